"""``wemd download``: verified, resumable, bounded downloads of mirror shards.

The ladder, as in TorchGeo: data already in place -> nothing to do; ``WEMD_OFFLINE=1`` -> say
what is missing; no mirror -> explain the manual download from the official source; else fetch
``mirror.json`` (validated: every name safe, every hash and size well formed), then stream every
needed shard through ``wemd.fetch`` (mirrors in order, retries, HTTP Range resume of a ``.part``
file, bounded in size, time and rate), extracting its listed members into a staging folder as the
bytes arrive, each checked against its own sha256 and size; verify the staging folder's structure
with ``wemd.verify`` and only then move it into the data home. A shard that does not match its
listing is deleted with everything fetched for that dataset, and the error names shard and
mirror. Files an earlier download placed are never replaced or written through.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence
from urllib.parse import quote

from wemd import catalog
from wemd.errors import DataMissingError, ManifestError, WEMDError
from wemd.fetch import (DEFAULT_WORKERS, OFFLINE_ENV, Bounds, FetchFailed, fetch_verified,
                        first_served, is_offline, mirror_base)
from wemd.files import link_or_copy
from wemd.home import PathLike, dataset_dir
from wemd.manifest import MANIFEST_NAME, Manifest, read_manifest, write_manifest
from wemd.mirror import MIRROR_MANIFEST, MirrorManifest, Shard, extract_shard, parse_mirror_manifest
from wemd.official import default_mirrors, manual_instructions

DOWNLOADS = ".downloads"  # shard cache under the data home, one folder per dataset



class DownloadError(WEMDError):
    """Every mirror failed for a shard (partial files are kept so the next run resumes)."""


class CorruptShardError(DownloadError):
    """A shard's bytes do not match its sha256 on every mirror that served it."""


class OfflineError(DataMissingError):
    """``WEMD_OFFLINE=1`` and the data is not on disk."""


class ManualDownloadRequired(WEMDError):
    """No mirror given and no verified official URL: the user must fetch the files by hand."""


@dataclass
class DownloadResult:
    """What one ``download`` call did."""

    dataset: str
    folder: Path
    splits: Optional[list[str]]
    mirror: Optional[str] = None
    shards: int = 0
    bytes: int = 0
    skipped: bool = False
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        what = "all splits" if self.splits is None else "split " + ", ".join(self.splits)
        if self.skipped:
            head = f"{self.dataset} ({what}) is already at {self.folder}"
        else:
            head = (f"{self.dataset} ({what}): {self.shards} shard(s), {self.bytes / 1e6:.1f} MB "
                    f"from {self.mirror} -> {self.folder}, verified")
        return "\n".join([head] + [f"note: {n}" for n in self.notes])


def download(name: str, split: Optional[str] = None, *, mirrors: Optional[Sequence[str]] = None,
             root: Optional[PathLike] = None, progress: Optional[bool] = None, retries: int = 2,
             timeout: float = Bounds().timeout, deadline: Optional[float] = Bounds().deadline,
             min_rate: float = Bounds().min_rate, workers: int = DEFAULT_WORKERS) -> DownloadResult:
    """Download ``name`` (one split, or all) from wemd mirrors into the data home and verify it.

    ``mirrors`` are base URLs of static mirrors made by ``wemd mirror build`` (default:
    ``$WEMD_MIRRORS``), tried in order for the manifest and for every shard (mirrors that could
    not serve the manifest are tried last). Up to ``workers`` shards stream at once; each is
    bounded by ``timeout`` (seconds without data), ``deadline`` (seconds per shard) and
    ``min_rate`` (bytes/s over a minute).
    """
    spec = catalog.get(name)
    splits = None if split is None else [catalog.canonical_split(spec, split)]
    target = dataset_dir(name, root)
    cache = target.parent / DOWNLOADS / name
    if is_offline():
        _offline_check(name, splits, root, target, cache)
        return DownloadResult(name, target, splits, skipped=True, notes=[f"{OFFLINE_ENV} is set"])
    if not (target / MANIFEST_NAME).is_file() and not _missing_splits(name, splits, root)[0]:
        # placed by hand (no wemd.json): nothing to fetch, and never anything to overwrite
        return DownloadResult(name, target, splits, skipped=True, notes=[
            f"{target} already holds these split(s) without a wemd.json (placed by hand); "
            f"`wemd verify {name}` checks them"])
    mirrors = [mirror_base(m) for m in (mirrors if mirrors is not None else default_mirrors())]
    if not mirrors:
        raise ManualDownloadRequired(manual_instructions(name, root))
    mirror, base = fetch_mirror_manifest(name, mirrors, timeout, retries)
    mirrors = mirrors[mirrors.index(base):] + mirrors[:mirrors.index(base)]  # dead ones last
    if mirror.catalog_version != catalog.CATALOG_VERSION:
        raise DownloadError(f"{base}/{name}/{MIRROR_MANIFEST} was built with catalog version "
                            f"{mirror.catalog_version!r}; this wemd uses {catalog.CATALOG_VERSION!r}. "
                            "Rebuild the mirror or use a matching wemd.")
    shards = mirror.shards_for(splits)
    result = DownloadResult(name, target, splits, mirror=base, shards=len(shards),
                            bytes=sum(s.size for s in shards))
    if splits is not None and not mirror.split_download:
        result.notes.append(f"{name} is partitioned by position inside shared files, so the "
                            "whole dataset was downloaded; load the split with wemd.load.")
    existing = _check_target(name, mirror, target)
    if existing is not None:  # an earlier download: fetch only the shards not yet in place
        shards = [s for s in shards if not _in_place(target, s)]
        _check_conflicts(name, existing, shards, base)
        result.shards, result.bytes = len(shards), sum(s.size for s in shards)
        result.skipped = not shards
        if result.skipped:
            return result
    bounds = Bounds(timeout=timeout, deadline=deadline, min_rate=min_rate)
    _place(name, mirror, shards, mirrors, cache, target,
           None if not mirror.split_download else splits, progress, retries, bounds, workers)
    _remove_if_empty(cache)
    return result


def fetch_mirror_manifest(name: str, mirrors: Sequence[str], timeout: float = Bounds().timeout,
                          retries: int = 0) -> tuple[MirrorManifest, str]:
    """The first readable ``{mirror}/{name}/mirror.json`` and the mirror that served it."""

    def parse(raw: bytes, url: str) -> MirrorManifest:
        mirror = parse_mirror_manifest(raw, url)
        if mirror.dataset != name:
            raise ManifestError(f"describes {mirror.dataset!r}, not {name!r}")
        return mirror

    bases = {f"{base}/{name}/{MIRROR_MANIFEST}": base for base in mirrors}
    try:
        mirror, url = first_served(list(bases), parse, retries=retries, timeout=timeout)
    except FetchFailed as exc:
        raise DownloadError(f"No mirror served {name}/{MIRROR_MANIFEST}:\n{exc}") from None
    return mirror, bases[url]


def fetch_shard(name: str, shard: Shard, mirrors: Sequence[str], cache: Path, staging: Path,
                progress: Optional[bool] = None, retries: int = 2,
                bounds: Bounds = Bounds(), stop: Any = None) -> list[str]:
    """Stream one shard (mirrors in order) and extract its listed files into ``staging``.

    The shard is hashed and its members checked against their listing as the bytes arrive; a
    ``.part`` copy in ``cache`` lets an interrupted shard resume (the caller removes it). A shard that does not match
    its listing on any mirror raises CorruptShardError; other failures DownloadError (run again
    to resume). Setting ``stop`` (a ``threading.Event``) ends the transfer with Cancelled.
    """
    created: list[Path] = []

    def undo() -> None:  # a failed attempt leaves no extracted file behind
        while created:
            created.pop().unlink(missing_ok=True)

    try:
        return fetch_verified([f"{base}/{name}/{quote(shard.path)}" for base in mirrors], shard.path,
                              shard.sha256, cache, size=shard.size, progress=progress,
                              retries=retries, bounds=bounds, undo=undo, keep_part=True, stop=stop,
                              consume=lambda stream: extract_shard(stream, staging, shard.files,
                                                                   created))
    except FetchFailed as exc:
        if exc.corrupt:
            raise CorruptShardError(
                f"Shard {shard.path} of {name} does not match its listing (sha256 {shard.sha256}):"
                f"\n{exc}\nNothing was kept in {cache}; the mirror is damaged or was rebuilt: try "
                "another --mirror or tell its maintainer.") from None
        raise DownloadError(f"Could not download shard {shard.path} of {name} from any mirror:\n"
                            f"{exc}\nRun the same command again to resume.") from None
    except OSError as exc:  # the local disk, not a mirror (full, or a folder not writable)
        raise DownloadError(f"Could not write shard {shard.path} of {name} (into {cache} and "
                            f"{staging}): {exc}") from exc


def _check_conflicts(name: str, existing: Manifest, shards: list[Shard], base: str) -> None:
    """Refuse a mirror that lists, with other contents, a file an earlier download placed."""
    for shard in shards:
        for rel, entry in shard.files.items():
            placed = existing.files.get(rel)
            if placed is not None and placed.get("sha256") != entry["sha256"]:
                raise DownloadError(f"{base} lists {rel} (in {shard.path}) with other contents than "
                                    f"the copy of {name} already placed; wemd download never "
                                    "writes over placed files: use the mirror the data came from.")


def _in_place(target: Path, shard: Shard) -> bool:
    """True when a previous download put every file of ``shard`` into ``target``."""
    return all((target / rel).is_file() and (target / rel).stat().st_size == entry["size"]
               for rel, entry in shard.files.items())


def _check_target(name: str, mirror: MirrorManifest, target: Path) -> Optional[Manifest]:
    """The manifest of earlier downloads into ``target``; an error if other data is there."""
    existing = read_manifest(target) if target.is_dir() else None
    if target.is_dir() and any(target.iterdir()):
        if existing is None:
            why = ("files without a wemd.json (placed by hand?) that lack the requested split(s); "
                   f"`wemd verify {name}` says what is wrong with them")
        elif existing.dataset != name:
            why = f"a wemd.json that describes {existing.dataset!r}"
        elif existing.provenance != mirror.provenance:
            why = f"{existing.provenance} data, and the mirror serves {mirror.provenance} data"
        else:
            return existing
        raise DownloadError(f"{target} already holds {why}; wemd download never writes over "
                            "other data: move it away or pass --root.")
    return existing


def _place(name: str, mirror: MirrorManifest, shards: list[Shard], mirrors: Sequence[str],
           cache: Path, target: Path, splits: Optional[list[str]], progress: Optional[bool],
           retries: int, bounds: Bounds, workers: int) -> None:
    """Stream the shards into a staging folder, verify it, then move it into ``target``
    (files, manifest last). Files already in ``target`` are never written."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from wemd.verify import verify

    existing = _check_target(name, mirror, target)
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.staging-", dir=target.parent))
    try:
        files: dict[str, dict[str, Any]] = dict(existing.files) if existing else {}
        new = {rel for shard in shards for rel in shard.files}
        for rel in set(files) - new:  # earlier files take part in verification, never rewritten
            if (target / rel).is_file():  # verification reports it if the split needs it
                link_or_copy(target / rel, staging / rel)
        stop = threading.Event()
        with ThreadPoolExecutor(max(1, min(workers, len(shards)))) as pool:
            jobs = [pool.submit(fetch_shard, name, shard, mirrors, cache, staging, progress,
                                retries, bounds, stop) for shard in shards]
            try:
                errors = [job.exception() for job in jobs]
            except BaseException:  # Ctrl-C: end the running transfers now (.part files kept)
                stop.set()
                pool.shutdown(cancel_futures=True)
                raise
        failed = [e for e in errors if e is not None]
        if any(isinstance(e, CorruptShardError) for e in failed):
            shutil.rmtree(cache, ignore_errors=True)
        if failed:
            raise next((e for e in failed if isinstance(e, CorruptShardError)), failed[0])
        for shard in shards:
            files.update(shard.files)
        manifest = Manifest(dataset=name, provenance=mirror.provenance, splits=mirror.splits,
                            files=files, generator=mirror.generator, description=mirror.description)
        write_manifest(staging, manifest)
        parts = [cache / f"{shard.path}.part" for shard in shards]  # extracted: not needed now
        with ThreadPoolExecutor(1) as cleaner:  # deleting large files overlaps verification
            cleaner.map(lambda p: p.unlink(missing_ok=True), parts)
            for split in splits or [None]:
                # every file was checked against its listed sha256 as it arrived: check structure
                report = verify(name, split=split, root=staging, progress=progress is True,
                                hashes=False)
                if not report.ok:
                    raise DownloadError(f"The downloaded copy of {name} fails verification; "
                                        f"nothing was placed at {target}.\n{report}")
        if existing is None:
            if target.exists():
                target.rmdir()  # an empty folder
            os.replace(staging, target)
            return
        for rel in new:
            if not (target / rel).exists():  # a placed file is never replaced or written through
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / rel, target / rel)
        write_manifest(target, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_if_empty(folder: Path) -> None:
    for p in (folder, folder.parent):
        try:
            p.rmdir()
        except OSError:
            return


def _offline_check(name: str, splits: Optional[list[str]], root: Optional[PathLike], target: Path,
                   cache: Path) -> None:
    """Return if the requested splits are on disk, else raise OfflineError saying what is missing."""
    missing, why = _missing_splits(name, splits, root)
    if not missing:
        return
    cached = sorted(p.name for p in cache.glob("*")) if cache.is_dir() else []
    raise OfflineError(name, target,
                       f"{OFFLINE_ENV}=1 forbids network access, and split(s) {', '.join(missing)} "
                       f"are not on disk{' (' + why + ')' if why else ''}. "
                       + (f"Shard cache {cache} holds {', '.join(cached)}. " if cached else "")
                       + f"Unset {OFFLINE_ENV} and run `wemd download {name}` again, or place "
                       "the files by hand and run `wemd verify`.")


def _missing_splits(name: str, splits: Optional[list[str]], root: Optional[PathLike]
                    ) -> tuple[list[str], str]:
    """The requested splits (None: all) that are not readable on disk, and why (if known)."""
    from wemd.api import open_folder

    wanted = splits or list(catalog.get(name).split_names)
    try:
        _, _, index = open_folder(name, root)
    except DataMissingError:
        return wanted, ""
    except WEMDError as exc:
        return wanted, str(exc)
    return [s for s in wanted if s not in index.sources], ""
