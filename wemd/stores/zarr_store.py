"""zarr v3 stores: ``wemd convert NAME OUT --to zarr`` and ``wemd.load(..., source="zarr", url=)``.

Layout of a store folder ``OUT`` (several datasets may share it)::

    OUT/zarr.json                       root group
    OUT/{name}/zarr.json                group; attribute "wemd" (see wemd.stores.common)
    OUT/{name}/{split}/items            [N, *item_shape], sharded, compressed (fixed shapes)
    OUT/{name}/{split}/images/{k}       one 2-D array per image (stem_full, varied shapes)
    OUT/{name}/{split}/index            uint8: the item index (ids, digests, metadata) as JSON

Varied shapes get one array per image rather than a ragged 1-D layout: each image keeps its
2-D shape and 2-D chunks (a region reads only its tiles), at the cost of one small metadata
document per image, which 19769 images can afford. A dataset is written into a hidden staging
group beside its final place and renamed there after its ``wemd`` attribute says
``complete: true`` (written last), so a crash never leaves a group that looks finished. Any
fsspec URL reads (``http://...``; local paths through zarr's LocalStore); remote requests time
out after ``timeout`` seconds and nothing falls back to other data.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np

from wemd import catalog
from wemd.errors import require
from wemd.home import PathLike
from wemd.stores.common import (Chunking, ItemIndex, StoreError, StoreSource,
                                cache_size, check_fingerprint, chunking, image_chunks,
                                manifest_of)

KIND = "zarr"
CODECS = ("zstd", "blosc-zstd", "gzip", "none")
DEFAULT_TIMEOUT = 30.0


def _compressors(codec: str, dtype: np.dtype) -> list:
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if codec not in CODECS:
        raise StoreError(f"unknown zarr codec {codec!r}; choose one of {', '.join(CODECS)}")
    return {"zstd": [ZstdCodec(level=3)],
            "blosc-zstd": [BloscCodec(cname="zstd", clevel=3, shuffle="shuffle",
                                      typesize=dtype.itemsize)],
            "gzip": [GzipCodec(level=5)], "none": []}[codec]


# ----------------------------------------------------------------------------------- writing

def write_zarr(ds_by_split: dict[str, Any], out: Path, codec: str, progress: bool) -> Path:
    """Write the loaded splits of one dataset into ``out/{name}`` (see the module docstring)."""
    zarr = require("zarr", "arrays")
    from zarr.storage import LocalStore

    from wemd.stores.common import read_split, store_attrs

    first = next(iter(ds_by_split.values()))
    spec = first.spec
    dtype = np.dtype(spec.dtype)
    compressors = _compressors(codec, dtype)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "zarr.json").is_file():
        zarr.open_group(store=LocalStore(out), mode="a")  # the root group others share
    stage = out / f".{spec.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    plan = chunking(spec) if spec.item_shape is not None else None
    try:
        group = zarr.open_group(store=LocalStore(stage), mode="w")
        fingerprints = {}
        for split, ds in ds_by_split.items():
            sub = group.create_group(split)
            index = ItemIndex([], [], [], [])
            writer = _Writer(sub, spec, len(ds), plan, compressors, dtype)
            for i, item, digest, data, meta in read_split(ds, progress):
                writer.add(i, item)
                index.ids.append(ds.item_id(i))
                index.sha256.append(digest)
                index.data_sha256.append(data)
                index.meta.append(meta)
            writer.flush()
            raw = np.frombuffer(index.to_bytes(), np.uint8)
            sub.create_array("index", data=raw, chunks=(max(1, min(len(raw), 4 << 20)),),
                             compressors=_compressors("zstd", raw.dtype))
            fingerprints[split] = ds.fingerprint(digests=index.sha256)
        attrs = store_attrs(ds_by_split, codec, fingerprints, KIND, plan)
        group.attrs["wemd"] = {**attrs, "complete": True}  # the completion marker, last
        _place(stage, out / spec.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out / spec.name


class _Writer:
    """Buffers items into whole shards (fixed shapes) or writes one array per image."""

    def __init__(self, sub: Any, spec: catalog.DatasetSpec, n: int, plan: Optional[Chunking],
                 compressors: list, dtype: np.dtype):
        self.sub, self.plan, self.compressors, self.dtype = sub, plan, compressors, dtype
        self.buf: list[np.ndarray] = []
        self.start = 0
        if plan is not None:
            shape = (n,) + tuple(spec.item_shape)
            self.arr = sub.create_array(
                "items", shape=shape, dtype=dtype, chunks=plan.chunk,
                shards=plan.shard(spec.item_shape), compressors=compressors, fill_value=0,
                config={"write_empty_chunks": True})  # every chunk on disk: a missing one is damage

    def add(self, i: int, item: np.ndarray) -> None:
        if self.plan is None:
            self.sub.create_array(f"images/{i}", data=item, chunks=image_chunks(item.shape),
                                  compressors=self.compressors, config={"write_empty_chunks": True})
            return
        self.buf.append(item)
        if len(self.buf) == self.plan.batch:
            self.flush()

    def flush(self) -> None:
        if self.plan is None or not self.buf:
            return
        self.arr[self.start:self.start + len(self.buf)] = np.stack(self.buf)
        self.start += len(self.buf)
        self.buf = []


def _place(stage: Path, final: Path) -> None:
    """Move a finished staging folder to ``final``, replacing an older store there."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    try:
        os.replace(stage, final)
    finally:
        shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------------- reading

def _is_url(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def absolute_url(url: PathLike) -> str:
    """``url`` without a trailing slash, a local path made absolute (a Dask worker started in
    another folder reads the same store)."""
    url = str(url).rstrip("/")
    if _is_url(url):
        return url
    return str(Path(url.removeprefix("file://")).expanduser().absolute())


def open_store(url: PathLike, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """A read-only zarr store for a local folder, ``file://`` or any fsspec URL."""
    from zarr.storage import FsspecStore, LocalStore

    url = str(url)
    if not _is_url(url):
        path = Path(url.removeprefix("file://")).expanduser()
        if not path.is_dir():
            raise StoreError(f"No zarr store at {path}: write one with `wemd convert NAME {path} "
                             "--to zarr`, or pass url= of an existing store.")
        return LocalStore(path, read_only=True)
    options: dict[str, Any] = {}
    if url.startswith(("http://", "https://")):
        import aiohttp

        options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(total=timeout)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr warns that remote stores are experimental
        return FsspecStore.from_url(url, storage_options=options, read_only=True)


def _check_ranges(url: str, timeout: float) -> None:
    """Refuse a web server that ignores HTTP Range requests: zarr reads a shard's index and its
    chunks as byte ranges, and a server answering with the whole file made every chunk look
    damaged. Asked for one byte, such a server answers 200 instead of 206."""
    import urllib.request

    request = urllib.request.Request(url, headers={"Range": "bytes=0-0"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status = answer.status
    except OSError:
        return  # unreachable or refused: the reads themselves say so
    if status != 206:
        raise StoreError(f"The server of {url} ignores HTTP Range requests (it answered {status} to a "
                         "byte range), which zarr shards need: serve the store with a server that "
                         "supports them (`wemd mirror serve OUT`, nginx, object storage).")


class ZarrSource(StoreSource):
    """One split of a zarr store; the arrays open lazily in each process."""

    def __init__(self, spec: catalog.DatasetSpec, index: ItemIndex, where: str, split: str,
                 url: str, timeout: float, batch: int, chunk: int):
        super().__init__(spec, index, where, split, batch)
        self.url, self.timeout, self._chunk = url, timeout, chunk
        self._group: Any = None
        self._items: Any = None

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_group": None, "_items": None}

    def read_fix(self) -> str:
        return f"if the store is remote check that it answers, else {super().read_fix()}"

    def _sub(self) -> Any:
        if self._group is None:
            import zarr

            self._group = zarr.open_group(store=open_store(self.url, self.timeout), mode="r",
                                          path=f"{self.spec.name}/{self.split}")
        return self._group

    def _open(self, what: str) -> Any:
        if what != "items":
            return self._sub()[what]
        if self._items is None:  # opening costs a metadata read: once per process
            self._items = self._sub()[what]
        return self._items

    def chunk_items(self) -> int:
        return self._chunk

    def files(self) -> list[Path]:
        if _is_url(self.url):
            return []  # nothing local to stat: fingerprints are hashed afresh
        folder = Path(self.url.removeprefix("file://")).expanduser() / self.spec.name / self.split
        return sorted(p for p in folder.rglob("*") if p.is_file())


def load_zarr(name: str, split: str = "train", root: Optional[PathLike] = None,
              val_fold: Optional[int] = None, url: Optional[PathLike] = None,
              timeout: float = DEFAULT_TIMEOUT, cache_mb: Optional[float] = None) -> Any:
    """``wemd.load(name, split, source="zarr", url=...)``: one split of a zarr store.

    ``cache_mb``: decoded, checked chunks each split's reader keeps (default
    ``wemd.stores.common.CACHE_BYTES``); 0 keeps only what one read needs."""
    zarr = require("zarr", "arrays")

    from wemd.api import dataset_from_index
    from wemd.loaders.layouts import SplitIndex
    from wemd.stores.common import opened_store, wanted_splits

    if url is None:
        raise StoreError(f"source='zarr' needs url= (a folder or URL written by `wemd convert "
                         f"{name} OUT --to zarr`).")
    url = absolute_url(url)
    where = f"{url}/{name}"
    store = open_store(url, timeout)
    try:
        group = zarr.open_group(store=store, mode="r", path=name)
        attrs = group.attrs.asdict().get("wemd")
    except zarr.errors.GroupNotFoundError as exc:
        catalog.get(name)  # an unknown name: say so, with the closest names
        raise StoreError(f"{url} holds no store of {name} (no group {name}/ there): write one "
                         f"with `wemd convert {name} OUT --to zarr` and pass url= the store "
                         f"folder OUT (the one holding OUT/{name}/, not that group).") from exc
    except Exception as exc:  # a refused connection, a timeout, bad JSON
        raise StoreError(f"Cannot read the zarr store {where} ({type(exc).__name__}: "
                         f"{exc or 'no answer'}): check the URL and that the server answers, or "
                         f"write the store with `wemd convert {name} OUT --to zarr`.") from exc
    attrs, spec, split, batch, chunk = opened_store(attrs, name, split, where, KIND)
    if url.startswith(("http://", "https://")):
        _check_ranges(f"{where}/zarr.json", timeout)
    sources = {}
    for s in wanted_splits(spec, split, val_fold, list(attrs["splits"]), name, where, KIND):
        src = ZarrSource(spec, ItemIndex([], [], [], []), where, s, url, timeout,
                         batch, chunk)
        src.index = src.read_index()
        check_fingerprint(spec, s, src, attrs)
        src.cache_bytes = cache_size(cache_mb)
        sources[s] = src
    return dataset_from_index(spec, split, where if _is_url(where) else Path(where),
                              SplitIndex(sources, []),
                              attrs["provenance"], manifest_of(attrs), val_fold)


def _register() -> None:
    from wemd.api import register_source

    register_source(KIND, load_zarr)


_register()
