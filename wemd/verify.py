"""``wemd verify``: check a dataset folder item by item and report every problem found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from wemd import catalog
from wemd.errors import CorruptFileError, DataMissingError, WEMDError
from wemd.home import PathLike
from wemd.loaders.sources import ArraySource, Source, WrongItemError
from wemd.stores.convert import FORMATS
from wemd.files import sha256_file


@dataclass
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Report:
    dataset: str
    folder: Optional[Path] = None
    provenance: str = "unknown"
    counts: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)  # the manifest's counts, else the catalog's
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)  # stores: recomputed per split
    store: Optional[str] = None  # the zarr/HDF5 store read, when one was

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        spec = catalog.get(self.dataset)
        if self.folder is None:  # nothing was read: the problem below says where and how
            lines = [f"wemd verify {self.dataset}  (no data read)"]
        elif self.store is not None:
            lines = [f"wemd verify {self.dataset}  ({self.provenance} data in the {self.store} "
                     f"store {self.folder})"]
        else:
            lines = [f"wemd verify {self.dataset}  ({self.provenance} data at {self.folder})"]
        for split, n in self.counts.items():
            want = f"expected {self.expected.get(split, '-')}"
            if self.provenance not in ("real", "curated"):  # a curated set has no published copy
                want += f"; published {spec.splits.get(split, '-')}"
            lines.append(f"  {split:<10} {n:>8} items   ({want})")
        if self.folder is not None:
            lines.append(f"  checked {self.checked} items")
        lines += [f"  fingerprint {split}: {fp}" for split, fp in self.fingerprints.items()]
        lines += [f"  note: {n}" for n in self.notes]
        if self.ok:
            lines.append("OK: no problems found")
        else:
            lines.append(f"FAILED: {len(self.problems)} problem(s)")
            lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def verify(name: str, split: Optional[str] = None, root: Optional[PathLike] = None,
           progress: bool = True, hashes: bool = True, *, source: str = "local",
           url: Optional[PathLike] = None) -> Report:
    """Check counts, readability, shapes, dtypes, finiteness and (if listed) sha256 hashes.

    ``source="zarr"``/``"hdf5"`` with ``url``: check a store instead (see :func:`verify_store`).
    """
    from tqdm.auto import tqdm

    from wemd.api import open_folder

    if source in FORMATS:  # a zarr or HDF5 store
        return verify_store(name, source, url, split, progress)
    spec = catalog.get(name, root)
    report = Report(name)
    try:
        folder, manifest, index = open_folder(name, root, published=True)  # catalog shapes
    except WEMDError as exc:
        report.problems.append(Problem(name, str(exc)))
        return report
    report.folder = folder
    report.provenance = manifest.provenance if manifest else "real"
    report.notes = list(index.notes)
    report.expected = index.expected
    splits = [catalog.canonical_split(spec, split)] if split else list(index.sources)
    for s, expected in index.expected.items():
        if s not in index.sources and expected and (split is None or s in splits):
            report.problems.append(Problem(f"split {s}", f"missing on disk ({expected} items expected)"))
    known = manifest.files if manifest else {}
    for s in splits:
        if s not in index.sources:
            continue
        src = index.sources[s]
        report.counts[s] = len(src)
        if isinstance(src, ArraySource) and len(src):
            _check_rows(spec, src, report)  # one array: shape and dtype once, values in blocks
            continue
        for i in tqdm(range(len(src)), desc=f"verify {name}/{s}", disable=not progress, unit="item"):
            _check_item(spec, src, i, report)
            report.checked += 1
    if hashes and known:
        files = dict.fromkeys(f for s in splits if s in index.sources for f in index.sources[s].files())
        _check_hashes(folder, list(files), known, report)
    return report


ROWS_PER_BLOCK = 1024


def _check_rows(spec: catalog.DatasetSpec, src: ArraySource, report: Report) -> None:
    """Rows of one array share its shape and dtype: check them through the first item, then
    count non-finite values block by block (the same findings as item by item, far faster)."""
    before = len(report.problems)
    _check_item(spec, src, 0, report)
    report.checked += 1
    if any(not p.what.endswith(" non-finite values") for p in report.problems[before:]):
        return  # unreadable: the other rows cannot be read either (non-finite values are per row)
    narrowed = src.array.dtype != src.dtype  # the authors' float64 file: each value checked
    for a in range(1, len(src), ROWS_PER_BLOCK):
        b = min(a + ROWS_PER_BLOCK, len(src))
        try:
            block = src.get_many(np.arange(a, b)) if narrowed else src.array[src.start + a:
                                                                              src.start + b]
        except CorruptFileError as exc:  # a value that is not a float32 value
            report.problems.append(Problem(src.item_id(a), str(exc)))
            report.checked += b - a
            continue
        # a row holds a NaN or infinity iff its float64 sum is not finite (float32 values cannot
        # overflow it); count exactly only in those rows
        sums = block.reshape(len(block), -1).sum(axis=1, dtype=np.float64)
        for k in np.flatnonzero(~np.isfinite(sums)):
            bad = int(np.size(block[k]) - np.isfinite(block[k]).sum())
            if bad:
                report.problems.append(Problem(src.item_id(a + int(k)), f"{bad} non-finite values"))
        report.checked += len(block)


def _check_item(spec: catalog.DatasetSpec, src: Source, i: int, report: Report) -> None:
    where = src.item_id(i)
    try:
        item = src.get(i)  # readers refuse a shape or dtype the catalog does not accept
    except WrongItemError as exc:
        report.problems.append(Problem(where, exc.problem))
        return
    except WEMDError as exc:
        report.problems.append(Problem(where, str(exc)))
        return
    if spec.dtype == "str":
        if not item.strip():
            report.problems.append(Problem(where, "empty file"))
        return
    item = np.asarray(item)
    if not np.all(np.isfinite(item)):
        report.problems.append(Problem(where, f"{int(np.size(item) - np.isfinite(item).sum())} "
                                              "non-finite values"))
    if hasattr(src, "metadata") and spec.family == "wavefunctions" and not isinstance(src, ArraySource):
        try:
            meta = src.metadata(i)
        except WEMDError as exc:
            report.problems.append(Problem(where, str(exc)))
            return
        if "meta_path" not in meta:
            report.problems.append(Problem(where, "no metadata JSON (meta/{i}-{cif}.json)"))


def _check_hashes(folder: Path, files: list[Path], known: dict[str, dict], report: Report) -> None:
    for path in files:
        rel = Path(path).relative_to(folder).as_posix()
        entry = known.get(rel)
        if not entry or "sha256" not in entry:
            continue
        if Path(path).stat().st_size != entry.get("size", Path(path).stat().st_size):
            report.problems.append(Problem(rel, f"size {Path(path).stat().st_size}, manifest says "
                                                f"{entry['size']} (truncated?)"))
        elif sha256_file(Path(path)) != entry["sha256"]:
            report.problems.append(Problem(rel, "sha256 differs from the manifest"))


def verify_store(name: str, kind: str, url: Optional[PathLike], split: Optional[str] = None,
                 progress: bool = True) -> Report:
    """Check a zarr or HDF5 store of ``name`` split by split: its attributes and item index
    (as every load does), each split's count against the manifest (else the catalog), every
    item's bytes against its digest and its values for NaN/inf, and the fingerprint recomputed
    from the checked digests against the one the store claims (the native copy's)."""
    from tqdm.auto import tqdm

    from wemd.api import load

    if name not in catalog.CATALOG:  # a curated dataset: its store declares it as it opens
        try:
            load(name, "all", source=kind, url=url)
        except WEMDError:
            pass  # reported below, split by split
    spec = catalog.get(name)
    report = Report(name, store=kind)
    splits = [catalog.canonical_split(spec, split)] if split else list(spec.splits)
    absent = []
    for s in splits:
        try:
            ds = load(name, s, source=kind, url=url)
        except DataMissingError as exc:
            if split:
                report.problems.append(Problem(f"split {s}", str(exc)))
            absent.append(s)
            continue
        except WEMDError as exc:  # unreadable store or index, another dataset, unfinished
            report.problems.append(Problem(f"split {s}" if report.folder else name, str(exc)))
            if report.folder is None and not isinstance(exc, CorruptFileError):
                return report  # the store itself is not there or not this dataset's
            continue
        src = ds.source
        report.folder, report.provenance = src.where, ds.provenance
        report.counts[s] = len(ds)
        report.expected[s] = ((ds.manifest.splits or {}) if ds.manifest else {}).get(
            s, spec.splits.get(s, 0))
        if len(ds) != report.expected[s]:
            report.problems.append(Problem(f"split {s}", f"{len(ds)} items, expected "
                                                         f"{report.expected[s]}"))
        digests = []
        bar = tqdm(total=len(ds), desc=f"verify {name}/{s}", disable=not progress, unit="item")
        for a in range(0, len(ds), ds.batch_size()):
            b = min(a + ds.batch_size(), len(ds))
            digests += _check_store_items(src, a, b, report)
            report.checked += b - a
            bar.update(b - a)
        bar.close()
        if None in digests:
            continue  # damaged items: no fingerprint to compare
        fp = ds.fingerprint(digests=digests)
        report.fingerprints[s] = fp
        if fp != src.claimed_fingerprint:
            report.problems.append(Problem(f"split {s}", f"fingerprint {fp} differs from the "
                                           f"store's {src.claimed_fingerprint}"))
    if absent and not split:
        report.notes.append(f"the store holds no split {', '.join(absent)} (a partial "
                            "conversion, `wemd convert --split`)")
    if not report.counts and not report.problems:
        report.problems.append(Problem(name, f"the {kind} store at {url} holds no split"))
    return report


def _check_store_items(src: Any, a: int, b: int, report: Report) -> list[Optional[str]]:
    """Items [a, b) of a store split: one batch read (every item checked against its digest),
    item by item where the batch fails, so each damaged item is named; their digests (None for
    a damaged one)."""
    try:
        items = [src.get_many(np.arange(a, b))] if src.item_shape else None
    except WEMDError:
        items = None
    digests: list[Optional[str]] = []
    for i in range(a, b):
        try:
            item, digest = (items[0][i - a], src.checked_digest(i)) if items else \
                src.get_with_digest(i)
        except WEMDError as exc:
            report.problems.append(Problem(src.item_id(i), str(exc)))
            digests.append(None)
            continue
        bad = int(np.size(item) - np.count_nonzero(np.isfinite(item)))
        if bad:
            report.problems.append(Problem(src.item_id(i), f"{bad} non-finite values"))
        digests.append(digest)
    return digests
