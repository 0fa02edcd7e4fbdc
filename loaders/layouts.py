"""Find the items of each split in a dataset folder, for every on-disk layout the catalog accepts.

Layouts (a dataset's spec names the ones it accepts):

``tiff_dir``
    ``{train,val,test}/*.tif`` (``validation``/``valid`` accepted), or a flat folder of TIFFs in
    numerical order split by contiguous counts (train, then val, then test). Names are ordered
    numerically, so the authors' crops ``train/train1.tif``, ``train/train2.tif``, ...
    (``cropping/crop_arm_scans.py``, k counting from 1 in each split) keep their order:
    ``train10.tif`` follows ``train9.tif``.
``npy_array``
    one ``.npy`` of shape ``[N, ...]`` whose rows are split by contiguous counts, or one
    ``{split}.npy`` per split. Memory-mapped. The authors' file names (:data:`AUTHORS_FILES`:
    ``96x96.npy``, ``96x96-tem.npy``, ...) are found in the dataset folder, or in the data home
    itself when the authors' files lie there side by side.
``wavefunction_dir``
    ``{split}/{i}.npy`` with ``{split}/meta/{i}-{cif}.json`` or ``meta/{i}-{cif}.json``.
``series_dir``
    one sub-folder of TIFFs (or one multi-page TIFF) per focal series, numerically ordered.
``cif_dir``
    ``*.cif`` files (optionally under ``cifs/``), split by journal; an optional ``urls.txt``
    lists the COD address of each CIF, matched by COD id.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import numpy as np

from wemd.catalog import SPLIT_ALIASES, DatasetSpec, journal_split
from wemd.errors import CorruptFileError, CountMismatchError, LayoutError
from wemd.loaders.sources import (ArraySource, FileSource, NpyReader, RangeSource, SeriesReader,
                                  Source, TextReader, TiffReader, natural_key, usable)

TIFF_SUFFIXES = (".tif", ".tiff")
#: The file each 96x96 array was saved as by the authors' scripts (``create_96x96/`` of their
#: public ``datasets`` repository); train, val and test rows concatenated in that order.
AUTHORS_FILES = {
    "stem_96x96": "96x96.npy",
    "tem_96x96": "96x96-tem.npy",
    "stem_crops_96x96": "96x96_stem_crops.npy",
    "wavefunctions_96x96": "wavefunctions_n=3.npy",
    "wavefunctions_96x96_restricted": "wavefunctions_restricted_n=3.npy",
    "wavefunctions_96x96_single": "wavefunctions_single_n=3.npy",
}


class SplitIndex:
    """The sources of every split found in one dataset folder, plus what was noticed on the way."""

    def __init__(self, sources: dict[str, Source], notes: list[str]):
        self.sources = sources
        self.notes = notes
        self.expected: dict[str, int] = {}  # the split counts the folder was checked against


def split_dirs(folder: Path) -> dict[str, Path]:
    """Split sub-folders present in ``folder``, by canonical split name."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for child in folder.iterdir():
        if child.is_dir():
            name = SPLIT_ALIASES.get(child.name.lower(), child.name.lower())
            if name in ("train", "val", "test") and name not in found:
                found[name] = child
    return found


def digest_is_data(spec: DatasetSpec) -> bool:
    """Whether the digest of each item is the sha256 of the item itself (array rows of the
    ``npy_array`` layout), so a copy that stores the items (an export) can recompute it. The other
    layouts hash whole files, whose bytes a copy of the pixels cannot reproduce."""
    return set(spec.layouts) == {"npy_array"}


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted((usable(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes
                   and not p.name.startswith(".")), key=natural_key)


def _check_counts(spec: DatasetSpec, counts: dict[str, int], found: dict[str, int],
                  notes: list[str], strict_total: bool) -> None:
    """Compare found split sizes with the expected ones; accept documented short totals."""
    expected_total, found_total = sum(counts.values()), sum(found.values())
    for split, n in found.items():
        want = counts.get(split)
        if want is None:
            raise LayoutError(f"{spec.name}: found split {split!r} that the dataset does not have "
                              f"(expected {', '.join(counts)}).")
        if n == want:
            continue
        last = list(counts)[-1]
        short = expected_total - found_total
        if (strict_total and split == last and found_total in spec.accepted_totals
                and n == want - short):
            notes.append(f"{spec.name}: {split} holds {n} items, {short} fewer than the published "
                         f"split count {want}; the published total is {found_total}. "
                         + " ".join(spec.discrepancies))
            continue
        raise CountMismatchError(spec.name, f"split {split!r}", n, want)


def contiguous_ranges(spec: DatasetSpec, counts: dict[str, int], total: int, where: str,
                      notes: list[str]) -> dict[str, tuple[int, int]]:
    """[start, stop) per split for contiguous partitions of ``total`` items."""
    expected = sum(counts.values())
    if total != expected and not (total in spec.accepted_totals and counts == spec.splits):
        raise CountMismatchError(spec.name, where, total, expected)
    ranges, start = {}, 0
    for split, n in counts.items():
        stop = min(start + n, total)
        ranges[split] = (start, stop)
        start = stop
    if total != expected:
        last = list(counts)[-1]
        notes.append(f"{spec.name}: {where} holds {total} items, not the {expected} the split counts "
                     f"sum to; {last} has {ranges[last][1] - ranges[last][0]} items. "
                     + " ".join(spec.discrepancies))
    return ranges


def index_tiff_dir(spec: DatasetSpec, folder: Path, counts: dict[str, int],
                   published: bool = True) -> SplitIndex:
    reader = TiffReader(spec.item_shape, spec.dtype, free_axes(spec, published))
    notes: list[str] = []
    dirs = split_dirs(folder)
    if dirs:
        sources = {s: FileSource(folder, _files(d, TIFF_SUFFIXES), reader) for s, d in dirs.items()}
        _check_counts(spec, counts, {s: len(src) for s, src in sources.items()}, notes,
                      strict_total=set(dirs) == set(counts))
        return SplitIndex(sources, notes)
    files = _files(folder, TIFF_SUFFIXES)
    if not files:
        raise LayoutError(f"{spec.name}: {folder} has neither split folders (train/val/test) nor "
                          "TIFF files.")
    flat = FileSource(folder, files, reader)
    ranges = contiguous_ranges(spec, counts, len(files), f"{folder} (flat)", notes)
    return SplitIndex({s: RangeSource(flat, a, b) for s, (a, b) in ranges.items()}, notes)


def _npy_shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise CorruptFileError(path, str(exc)) from exc
    return arr.shape, arr.dtype


def authors_folder(spec: DatasetSpec, home: Path) -> bool:
    """Whether ``home`` holds the authors' file of ``spec`` directly (their files side by side)."""
    name = AUTHORS_FILES.get(spec.name)
    return name is not None and (Path(home) / name).is_file()


def index_npy_array(spec: DatasetSpec, folder: Path, counts: dict[str, int],
                    published: bool = True) -> SplitIndex:
    notes: list[str] = []
    per_split = {SPLIT_ALIASES.get(p.stem.lower(), p.stem.lower()): p
                 for p in _files(folder, (".npy",)) if
                 SPLIT_ALIASES.get(p.stem.lower(), p.stem.lower()) in counts}
    if per_split:
        sources = {}
        for split, path in per_split.items():
            shape, dtype = _npy_shape(path)
            dtype = _check_array(spec, path, shape, dtype)
            sources[split] = ArraySource(folder, path, 0, shape[0], shape[1:], dtype)
        _check_counts(spec, counts, {s: len(src) for s, src in sources.items()}, notes,
                      strict_total=set(sources) == set(counts))
        return SplitIndex(sources, notes)
    arrays = _files(folder, (".npy",))
    authors = [a for a in arrays if a.name == AUTHORS_FILES.get(spec.name)]
    arrays = authors or arrays
    if len(arrays) != 1:
        what = "no .npy file" if not arrays else f"{len(arrays)} .npy files ({', '.join(a.name for a in arrays)})"
        raise LayoutError(f"{spec.name}: expected one .npy array [N,{','.join(map(str, spec.item_shape or ()))}] "
                          f"or one {{split}}.npy per split in {folder}, found {what}.")
    path = arrays[0]
    shape, dtype = _npy_shape(path)
    dtype = _check_array(spec, path, shape, dtype)
    ranges = contiguous_ranges(spec, counts, shape[0], path.name, notes)
    return SplitIndex({s: ArraySource(folder, path, a, b, shape[1:], dtype)
                       for s, (a, b) in ranges.items()}, notes)


def _check_array(spec: DatasetSpec, path: Path, shape: tuple, dtype: np.dtype) -> np.dtype:
    """The dtype the array's items are presented in (the catalog's), or a LayoutError.

    The authors' own file (:data:`AUTHORS_FILES`) may be float64 where the catalog says float32:
    their ``create_96x96_stem_crops.py`` stacks float32 pixels into a float64 ``np.zeros``
    array. Its rows are read as float32 items, refused row by row unless every value is exactly
    a float32 value (``ArraySource``); digests and fingerprints are of the float32 items.
    """
    if spec.item_shape is not None and tuple(shape[1:]) != tuple(spec.item_shape):
        raise LayoutError(f"{spec.name}: {path.name} has shape {tuple(shape)}, expected "
                          f"[N, {', '.join(map(str, spec.item_shape))}].")
    want = np.dtype(spec.dtype)
    if np.dtype(dtype) == want:
        return want
    if path.name == AUTHORS_FILES.get(spec.name) and want == np.float32 and \
            np.dtype(dtype).newbyteorder("=") == np.float64:
        return want
    hint = f" (float64 only in the authors' file {AUTHORS_FILES[spec.name]})" \
        if spec.name in AUTHORS_FILES else ""
    raise LayoutError(f"{spec.name}: {path.name} has dtype {dtype}, expected {spec.dtype}{hint}.")


_WAVE_META = re.compile(r"^([0-9]+)-(.+)\.json$")


def _meta_index(folder: Path) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    out = {}
    for p in folder.iterdir():
        m = _WAVE_META.match(p.name)
        if m:
            out[int(m.group(1))] = usable(p)
    return out


def index_wavefunction_dir(spec: DatasetSpec, folder: Path, counts: dict[str, int],
                           published: bool = True) -> SplitIndex:
    reader = NpyReader(spec.item_shape, spec.dtype, free_axes(spec, published))
    dirs = split_dirs(folder)
    if not dirs:
        raise LayoutError(f"{spec.name}: {folder} has no split folders; expected "
                          f"{'/, '.join(counts)}/ with {{i}}.npy files and meta/{{i}}-{{cif}}.json.")
    shared_meta = _meta_index(folder / "meta")
    sources, notes = {}, []
    for split, d in dirs.items():
        files = [p for p in _files(d, (".npy",)) if re.fullmatch(r"[0-9]+", p.stem)]
        local_meta = _meta_index(d / "meta")
        meta = [local_meta.get(int(p.stem), shared_meta.get(int(p.stem))) for p in files]
        extra = [{"split": split, "index": int(p.stem)} for p in files]
        sources[split] = FileSource(folder, files, reader, meta_paths=meta, extra_meta=extra)
    _check_counts(spec, counts, {s: len(src) for s, src in sources.items()}, notes,
                  strict_total=set(dirs) == set(counts))
    return SplitIndex(sources, notes)


def index_series_dir(spec: DatasetSpec, folder: Path, counts: dict[str, int],
                     published: bool = True) -> SplitIndex:
    reader = SeriesReader(spec.item_shape, spec.dtype, free_axes(spec, published, (1, 2)))
    items = sorted((usable(p) for p in folder.iterdir() if not p.name.startswith(".") and
                    (p.is_dir() or p.suffix.lower() in TIFF_SUFFIXES)), key=natural_key)
    notes: list[str] = []
    ranges = contiguous_ranges(spec, counts, len(items), f"{folder}", notes)
    src = FileSource(folder, items, reader)
    return SplitIndex({s: RangeSource(src, a, b) for s, (a, b) in ranges.items()}, notes)


def read_cif_journal(path: Path) -> tuple[Optional[str], Optional[str]]:
    """(journal name, COD id) of a CIF, read with gemmi by the rule ``wemd simulate`` uses
    (:func:`wemd.simulation.cif.structure_block`): the block with atom sites, its journal from
    any of :data:`wemd.journals.JOURNAL_TAGS`, else from ``data_global``."""
    import gemmi

    from wemd.simulation.cif import CIFError, structure_block

    try:
        block, journal = structure_block(list(gemmi.cif.read_file(str(path))), str(path))
    except (RuntimeError, ValueError) as exc:  # CIFError is a ValueError
        reason = exc.reason if isinstance(exc, CIFError) else f"CIF unreadable ({exc})"
        raise CorruptFileError(path, reason) from exc
    cod = block.find_value("_cod_database_code")
    return journal, gemmi.cif.as_string(cod) if cod else None


def index_cif_dir(spec: DatasetSpec, folder: Path, counts: dict[str, int],
                  published: bool = True) -> SplitIndex:
    base = folder / "cifs" if (folder / "cifs").is_dir() else folder
    files = _files(base, (".cif",))
    if not files:
        raise LayoutError(f"{spec.name}: no .cif files in {base}.")
    urls: dict[str, str] = {}
    if (folder / "urls.txt").is_file():
        try:
            lines = (folder / "urls.txt").read_bytes().decode("utf-8").split()
        except (OSError, UnicodeDecodeError) as exc:
            raise CorruptFileError(folder / "urls.txt", f"not readable as UTF-8 text ({exc})") from exc
        for line in lines:
            urls[line.rstrip("/").rsplit("/", 1)[-1].removesuffix(".cif")] = line
    by_split: dict[str, list[tuple[Path, dict]]] = {}
    for path in files:
        journal, cod = read_cif_journal(path)
        cod = cod or path.stem
        split = journal_split(journal)
        by_split.setdefault(split, []).append(
            (path, {"cod_id": cod, "journal": journal, "split": split, "url": urls.get(cod)}))
    reader = TextReader(None, "str")
    sources = {s: FileSource(base, [p for p, _ in rows], reader, extra_meta=[m for _, m in rows])
               for s, rows in by_split.items()}
    notes: list[str] = []
    if "unassigned" in sources:
        notes.append(f"{len(sources['unassigned'])} CIFs come from journals outside the partition "
                     "table (split 'unassigned').")
    _check_counts(spec, {**counts, "unassigned": len(sources.get("unassigned", ()))},
                  {s: len(src) for s, src in sources.items()}, notes, strict_total=False)
    return SplitIndex(sources, notes)


INDEXERS = {
    "tiff_dir": index_tiff_dir,
    "npy_array": index_npy_array,
    "wavefunction_dir": index_wavefunction_dir,
    "series_dir": index_series_dir,
    "cif_dir": index_cif_dir,
}


def free_axes(spec: DatasetSpec, published: bool, image_axes: tuple[int, ...] = (0, 1)
              ) -> tuple[int, ...]:
    """Item axes that may differ from the catalog: none for the published data; the image axes
    for a declared subset, synthetic or simulated build, which may hold square images of another
    size (as ``Task.fit_to`` expects), never of another rank or aspect."""
    return () if published or spec.item_shape is None else image_axes


def index_folder(spec: DatasetSpec, folder: Path, counts: Optional[dict[str, int]] = None,
                 published: bool = True) -> SplitIndex:
    """The split sources of a dataset folder, trying each layout the spec accepts.

    ``published``: the folder claims to be the published data (no manifest, or provenance
    'real'), so items must have exactly the catalog's shape.
    """
    counts = counts or spec.splits
    errors = []
    for layout in spec.layouts:
        try:
            index = INDEXERS[layout](spec, folder, counts, published)
            index.expected = dict(counts)
            return index
        except LayoutError as exc:
            errors.append(str(exc))
    raise LayoutError(" ".join(errors))
