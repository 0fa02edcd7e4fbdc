"""Static mirrors: a dataset folder packed into tar shards plus a manifest listing their sha256.

``build_mirror`` turns a local dataset folder (real, subset or synthetic) into
``{outdir}/{name}/mirror.json`` and ``{outdir}/{name}/{name}-{group}-{k}.tar``. Any static HTTP
server can host ``outdir``; ``wemd download NAME --mirror URL`` fetches ``URL/{name}/mirror.json``
and the shards it lists. Shards are grouped by split where the layout keeps splits in separate
files (split folders, ``{split}.npy``, CIFs by journal), so one split can be downloaded alone;
layouts partitioned by position (one shared array, a flat folder) go into group ``all``.
The files keep their paths, so a downloaded copy has the same item ids and fingerprints.
``wemd.range_server`` serves such a folder locally (``wemd mirror serve``).
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Mapping, Optional, Union

from wemd import catalog
from wemd.errors import ManifestError
from wemd.fetch import CHUNK_SIZE as CHUNK, CorruptListing, tqdm_disable
from wemd.home import PathLike
from wemd.loaders.sources import ArraySource, FileSource
from wemd.files import (UnsafeNameError, atomic_path, safe_filename, safe_join, safe_relpath,
                        sha256_file, write_json)
from wemd.manifest import MANIFEST_NAME, PROVENANCES

MIRROR_FORMAT = "wemd-mirror/1"
MIRROR_MANIFEST = "mirror.json"
#: Files of no split (urls.txt, a shared meta/ folder) are needed by every split download.
COMMON = "common"
#: Group of every file when the layout partitions by position and splits cannot be separated.
WHOLE = "all"
DEFAULT_SHARD_BYTES = 1 << 30


@dataclass
class Shard:
    """One tar archive of a mirror."""

    path: str  # file name, relative to the mirror's dataset folder
    group: str  # a split name, "common" or "all"
    sha256: str
    size: int
    files: dict[str, dict[str, Any]]  # relpath inside the dataset folder -> {sha256, size}

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "group": self.group, "sha256": self.sha256, "size": self.size,
                "files": self.files}


@dataclass
class MirrorManifest:
    """What a mirror serves for one dataset, and the dataset manifest to write after download."""

    dataset: str
    provenance: str
    splits: Optional[dict[str, int]]
    shards: list[Shard]
    split_download: bool = True
    description: str = ""
    generator: dict[str, Any] = field(default_factory=dict)
    catalog_version: str = catalog.CATALOG_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"format": MIRROR_FORMAT, "dataset": self.dataset, "provenance": self.provenance,
                "splits": self.splits, "catalog_version": self.catalog_version,
                "split_download": self.split_download, "description": self.description,
                "generator": self.generator, "shards": [s.to_json() for s in self.shards]}

    def shards_for(self, splits: Optional[Iterable[str]]) -> list[Shard]:
        """The shards a download of ``splits`` (None: everything) needs."""
        if splits is None or not self.split_download:
            return list(self.shards)
        wanted = set(splits) | {COMMON}
        return [s for s in self.shards if s.group in wanted]

    @property
    def size(self) -> int:
        return sum(s.size for s in self.shards)


def parse_mirror_manifest(raw: bytes, where: str) -> MirrorManifest:
    """Validate a ``mirror.json`` read from ``where`` (a URL or a path); ManifestError if any
    field is missing, of the wrong type, out of range, or names a file outside the dataset."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ManifestError(f"{where} is not valid JSON ({exc}); is this a wemd mirror?") from exc
    if not isinstance(obj, dict) or obj.get("format") != MIRROR_FORMAT:
        raise ManifestError(f"{where} is not a {MIRROR_FORMAT} manifest; build mirrors with "
                            "`wemd mirror build`.")

    def check(ok: bool, what: str) -> None:
        if not ok:
            raise ManifestError(f"{where}: {what}; the mirror is damaged or hostile: rebuild it "
                                "with `wemd mirror build` or use another mirror.")

    dataset = obj.get("dataset")
    check(isinstance(dataset, str) and dataset in catalog.CATALOG, f"unknown dataset {dataset!r}")
    provenance = obj.get("provenance", "real")
    check(provenance in PROVENANCES, f"provenance {provenance!r} is not one of {PROVENANCES}")
    splits = obj.get("splits")
    check(splits is None or (isinstance(splits, dict) and all(
        isinstance(k, str) and _count(v) for k, v in splits.items())),
        "'splits' must map split names to non-negative counts")
    for key, kind in (("description", str), ("generator", dict), ("split_download", bool),
                      ("catalog_version", str)):
        check(isinstance(obj.get(key, kind()), kind), f"'{key}' must be a {kind.__name__}")
    groups = set(catalog.get(dataset).split_names) | {COMMON, WHOLE}
    shards, seen, paths = [], set(), set()
    check(isinstance(obj.get("shards"), list) and obj["shards"], "'shards' must be a non-empty list")
    for s in obj["shards"]:
        check(isinstance(s, dict), "a shard entry is not an object")
        path = s.get("path")
        try:
            safe_filename(path, "shard")
        except UnsafeNameError as exc:
            check(False, f"unsafe name: {exc}")
        check(path.endswith(".tar"), f"shard {path!r} is not a .tar file")
        check(path not in paths, f"shard {path!r} is listed twice")
        paths.add(path)
        check(isinstance(s.get("group"), str) and s["group"] in groups,
              f"shard {path!r}: group {s.get('group')!r} is not one of {sorted(groups)}")
        check(_digest(s.get("sha256")) and _count(s.get("size")), f"shard {path!r}: 'sha256' must "
              "be 64 lowercase hex digits and 'size' a non-negative integer")
        files = s.get("files")
        check(isinstance(files, dict) and files, f"shard {path!r}: 'files' must be a non-empty object")
        for rel, entry in files.items():
            try:
                safe_relpath(rel, f"file of shard {path}")
            except UnsafeNameError as exc:
                check(False, f"unsafe name: {exc}")
            check(rel != MANIFEST_NAME and rel not in seen, f"file {rel!r} is listed twice or is "
                                                             f"the {MANIFEST_NAME}")
            check(isinstance(entry, dict) and _digest(entry.get("sha256")) and _count(entry.get("size")),
                  f"file {rel!r}: needs a 64-hex 'sha256' and a non-negative integer 'size'")
            seen.add(rel)
        shards.append(Shard(path=path, group=s["group"], sha256=s["sha256"], size=s["size"],
                            files={rel: {"sha256": e["sha256"], "size": e["size"]}
                                   for rel, e in files.items()}))
    return MirrorManifest(dataset=dataset, provenance=provenance, splits=splits, shards=shards,
                          split_download=obj.get("split_download", True),
                          description=obj.get("description", ""),
                          generator=obj.get("generator", {}),
                          catalog_version=obj.get("catalog_version", ""))


def _count(value: Any) -> bool:
    """True for a non-negative int (JSON booleans are not counts)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _digest(value: Any) -> bool:
    """True for a sha256 hex digest as wemd writes them (64 lowercase hex digits)."""
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def file_groups(name: str, root: Optional[PathLike] = None) -> tuple[Path, dict[str, list[Path]], bool]:
    """The dataset folder, its files by group, and whether splits can be downloaded alone."""
    from wemd.api import open_folder

    folder, _, index = open_folder(name, root)
    separable = _separable(index.sources.values())
    groups: dict[str, list[Path]] = {}
    owner: dict[Path, str] = {}
    if separable:
        for split, src in index.sources.items():
            for path in _expand(src.files()):
                owner[path] = COMMON if owner.get(path, split) != split else split
    for path in _expand([folder]):
        rel = path.relative_to(folder)
        if rel.as_posix() == MANIFEST_NAME or any(p.startswith(".") for p in rel.parts):
            continue
        groups.setdefault(owner.get(path, COMMON if separable else WHOLE), []).append(path)
    return folder, groups, separable


def _separable(sources: Iterable[Any]) -> bool:
    """True when every split lives in its own files (not rows of one array or a flat range)."""
    paths: set[Path] = set()
    for src in sources:
        if isinstance(src, ArraySource):
            if src.path in paths:
                return False
            paths.add(src.path)
        elif not isinstance(src, FileSource):
            return False
    return True


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        out.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    return out


def build_mirror(name: str, outdir: PathLike, root: Optional[PathLike] = None,
                 shard_bytes: int = DEFAULT_SHARD_BYTES, progress: Optional[bool] = None) -> Path:
    """Pack the local copy of ``name`` into shards under ``outdir/name/``; return mirror.json's path.

    Every shard and the manifest are written atomically; the manifest is written last, so a
    mirror folder with a ``mirror.json`` is complete.
    """
    from tqdm.auto import tqdm

    from wemd.manifest import read_manifest

    if shard_bytes <= 0:
        raise ValueError("shard_bytes must be positive")
    folder, groups, separable = file_groups(name, root)
    manifest = read_manifest(folder)
    out = Path(outdir) / name
    out.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for files in groups.values() for p in files)
    shards: list[Shard] = []
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"mirror {name}",
              disable=tqdm_disable(progress)) as bar:
        for group in sorted(groups, key=_group_order):
            for k, chunk in enumerate(_chunks(groups[group], shard_bytes)):
                shards.append(_write_shard(out / f"{name}-{group}-{k:04d}.tar", folder, group, chunk, bar))
    mirror = MirrorManifest(
        dataset=name, provenance=manifest.provenance if manifest else "real",
        splits=manifest.splits if manifest else None, shards=shards, split_download=separable,
        description=manifest.description if manifest else "",
        generator=dict(manifest.generator) if manifest else {})
    return write_json(out / MIRROR_MANIFEST, mirror.to_json())


def _group_order(group: str) -> tuple[int, str]:
    order = (COMMON, WHOLE) + catalog.SPLIT_ORDER
    return (order.index(group) if group in order else len(order), group)


def _chunks(paths: list[Path], limit: int) -> Iterable[list[Path]]:
    chunk: list[Path] = []
    size = 0
    for p in paths:
        n = p.stat().st_size
        if chunk and size + n > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(p)
        size += n
    if chunk:
        yield chunk


def _write_shard(path: Path, folder: Path, group: str, files: list[Path], bar: Any) -> Shard:
    listing: dict[str, dict[str, Any]] = {}
    with atomic_path(path) as tmp:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for f in files:
                rel = f.relative_to(folder).as_posix()
                info = tar.gettarinfo(str(f), arcname=rel)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0  # same data -> same shard bytes -> same sha256
                with open(f, "rb") as fh:
                    tar.addfile(info, fh)
                listing[rel] = {"sha256": sha256_file(f), "size": info.size}
                bar.update(info.size)
    return Shard(path=path.name, group=group, sha256=sha256_file(path), size=path.stat().st_size,
                 files=listing)


def extract_shard(archive: Union[Path, BinaryIO], dest: Path,
                  files: Optional[Mapping[str, Mapping[str, Any]]] = None,
                  created: Optional[list[Path]] = None) -> list[str]:
    """Extract the members of a shard (a path, or a stream as it arrives) that its listing names.

    ``files`` maps each relative path to ``{sha256, size}``. Every member must be a listed plain
    file of its listed size; it is written to a new file under ``dest`` (never through an
    existing one) while its sha256 is computed, and checked at its end; every listed file must
    be present. Anything else raises CorruptListing, naming the member. ``created`` collects the
    paths written, so a caller can remove them after a failure.
    """
    listing = dict(files or {})
    where = archive.name if isinstance(archive, Path) else getattr(archive, "url", "the shard")
    names: list[str] = []
    created = [] if created is None else created
    try:
        with (tarfile.open(archive, "r|", bufsize=CHUNK) if isinstance(archive, Path) else
              tarfile.open(fileobj=archive, mode="r|", bufsize=CHUNK)) as tar:
            for m in tar:
                entry = listing.pop(m.name, None)
                if entry is None or not m.isreg() or m.issparse() or m.size != entry["size"]:
                    why = ("not in the shard's listing" if entry is None else "not a plain file"
                           if not m.isreg() or m.issparse() else f"{m.size} bytes, listed as {entry['size']}")
                    raise CorruptListing(f"{where}: refusing archive member {m.name!r} ({why}); "
                                         "nothing unlisted is ever placed.")
                target = safe_join(dest, m.name, "archive member")
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                source = tar.extractfile(m)
                with open(target, "xb") as out:  # "x": a new file, never an existing one
                    created.append(target)
                    while block := source.read(CHUNK):
                        digest.update(block)
                        out.write(block)
                if digest.hexdigest() != entry["sha256"]:
                    raise CorruptListing(f"{where}: member {m.name!r} does not match its listed "
                                         "sha256")
                names.append(m.name)
    except tarfile.TarError as exc:
        raise CorruptListing(f"{where} is not a readable tar archive ({exc}).") from exc
    except (FileExistsError, UnsafeNameError) as exc:
        raise CorruptListing(f"{where}: refusing archive member ({exc}).") from exc
    if listing:
        raise CorruptListing(f"{where} lacks {len(listing)} listed file(s), e.g. {next(iter(listing))!r}")
    return names
