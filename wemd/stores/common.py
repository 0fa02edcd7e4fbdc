"""What the zarr and HDF5 stores share: the chunking plan per family, the per-item index
(native ids, native digests, data digests, metadata), the store's ``wemd`` attributes, and the
reader that checks every item it returns against its digest.

A store holds the items of some splits of one dataset, bit for bit, plus what the native loader
needs to give the same fingerprint: each item's native id and native digest (the sha256 of its
file, or of its array row). No digest is taken on trust: every item read is hashed and compared
with its ``data_sha256``; where the native digest *is* the item's own digest (array rows) it is
recomputed, elsewhere (a TIFF's bytes, which pixels do not determine) the stored one is used once
the item it describes has been checked.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from wemd import catalog
from wemd.catalog import DatasetSpec
from wemd.errors import CorruptFileError, DataMissingError, WEMDError
from wemd.loaders.layouts import digest_is_data
from wemd.loaders.sources import Source, data_digest, item_problem
from wemd.manifest import PROVENANCES

#: The ``wemd`` attribute's format; a reader refuses others.
STORE_FORMAT = "wemd-store/1"
#: Target sizes: an inner chunk (the unit decoded for one random access) and a shard / item
#: batch (the unit of a dask chunk, of a sequential read, and of one shard file).
CHUNK_BYTES = 1 << 20
BATCH_BYTES = 64 << 20
#: Items larger than this are tiled into square chunks of this side (TEM 2048x2048, focal series).
TILE = 1024
#: Bounds on what a (possibly hostile) store may make a reader allocate: one image of a
#: varied-shape dataset (1 GiB of float32) and one split's item index.
MAX_IMAGE_PIXELS = 1 << 28
#: Bytes of decoded inner chunks a reader keeps by default (per split, per process; ``cache_mb=``
#: of a store load), so items read again are neither decoded nor hashed again; and the threads
#: that hash a large block.
CACHE_BYTES = 512 << 20
HASH_THREADS = 2
MAX_INDEX_BYTES = 256 << 20
#: Keys of item metadata that describe where a native copy lies on disk: never stored.
LOCAL_KEYS = ("path", "meta_path")


class StoreError(WEMDError):
    """A store that cannot be written or read as asked (another dataset, incomplete, unreachable)."""


@dataclass(frozen=True)
class Chunking:
    """How one dataset's items are chunked: ``chunk`` (items per inner chunk, then the item
    tile), ``batch`` (items per shard and per dask chunk)."""

    chunk: tuple[int, ...]
    batch: int

    def shard(self, item_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.batch,) + tuple(item_shape)


def _pow2_floor(x: float) -> int:
    return 1 if x < 2 else 2 ** int(math.log2(x))


def chunking(spec: DatasetSpec) -> Chunking:
    """The chunking of a fixed-shape dataset, from its item size alone.

    96x96 sets: 16 (one channel) or 8 (two) items per 1 MB chunk, 1024 / 512 per shard; 512x512
    crops and 320x320 waves: one item per chunk, 64 per shard; TEM 2048x2048 and focal series
    (> 4 MB an item): 1024x1024 (or one-frame) tiles, 4 items per shard. Powers of two, so shard
    edges fall on chunk edges.
    """
    if spec.item_shape is None:
        raise StoreError(f"{spec.name} has items of varied shape: it has no batch chunking")
    shape = tuple(spec.item_shape)
    item_bytes = int(np.prod(shape)) * np.dtype(spec.dtype).itemsize
    per_chunk = _pow2_floor(CHUNK_BYTES / item_bytes)
    tile = shape
    if item_bytes > 4 * CHUNK_BYTES:  # tile big items: one frame, or TILE x TILE of an image
        tile = (1,) * (len(shape) - 2) + tuple(min(TILE, d) for d in shape[-2:])
    batch = max(per_chunk, _pow2_floor(BATCH_BYTES / item_bytes))
    return Chunking((per_chunk,) + tile, batch)


def image_chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Chunks of one image of a varied-shape dataset (stem_full): tiles of at most TILE x TILE."""
    return tuple(min(TILE, d) for d in shape)


# ------------------------------------------------------------------------------------ the index

@dataclass
class ItemIndex:
    """Per item of one split: native id, native digest, data digest, metadata (no local paths)."""

    ids: list[str]
    sha256: list[str]
    data_sha256: list[str]
    meta: list[dict]

    def __len__(self) -> int:
        return len(self.ids)

    def to_bytes(self) -> bytes:
        return json.dumps({"ids": self.ids, "sha256": self.sha256, "data_sha256": self.data_sha256,
                           "meta": self.meta}, separators=(",", ":"), default=_json_default).encode()

    @classmethod
    def from_bytes(cls, raw: bytes, where: str) -> "ItemIndex":
        try:
            obj = json.loads(bytes(raw).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise CorruptFileError(where, f"item index unreadable ({exc})") from exc
        cols = ("ids", "sha256", "data_sha256", "meta")
        if not isinstance(obj, dict) or not all(isinstance(obj.get(c), list) for c in cols) \
                or len({len(obj[c]) for c in cols}) != 1 \
                or not all(isinstance(x, str) for c in cols[:3] for x in obj[c]) \
                or not all(isinstance(m, dict) for m in obj["meta"]):
            raise CorruptFileError(where, "item index is not four equal-length lists (ids, "
                                   "sha256, data_sha256, meta)")
        return cls(*(obj[c] for c in cols))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def stored_meta(meta: dict) -> dict:
    """An item's metadata as a store keeps it: without local paths and per-load keys."""
    return {k: v for k, v in meta.items()
            if k not in LOCAL_KEYS + ("dataset", "position", "provenance")}


def read_split(ds: Any, progress: bool = False) -> Iterator[tuple[int, Any, str, str, dict]]:
    """(position, item, native digest, data digest, metadata) of every item of a loaded split,
    each item read once (its digests hashed from that read)."""
    from tqdm.auto import tqdm

    from wemd.frames import item_records

    records = item_records(ds)
    for i in tqdm(range(len(ds)), desc=f"convert {ds.name}/{ds.split}", disable=not progress,
                  unit="item"):
        item, digest = ds.source.get_with_digest(i)
        yield i, item, digest, data_digest(item), stored_meta(records[i])


# ------------------------------------------------------------------------------ the attributes

def store_attrs(ds_by_split: dict[str, Any], codec: str, fingerprints: dict[str, str],
                kind: str, plan: Optional[Chunking]) -> dict[str, Any]:
    """The ``wemd`` attribute of a finished store (``complete`` is set by the writer, last)."""
    from wemd import __version__

    first = next(iter(ds_by_split.values()))
    manifest = first.manifest.to_json() if first.manifest is not None else None
    if manifest is not None:
        manifest.pop("files", None)  # hashes of the native files: not this store's files
    return {
        "format": STORE_FORMAT, "kind": kind, "dataset": first.name, "provenance": first.provenance,
        "catalog_version": catalog.CATALOG_VERSION, "manifest": manifest, "codec": codec,
        "splits": {s: {"count": len(d), "fingerprint": fingerprints[s]}
                   for s, d in ds_by_split.items()},
        "chunking": None if plan is None else {"chunk": list(plan.chunk), "batch": plan.batch},
        "written_by": f"wemd {__version__}", "complete": False,
    }


def check_attrs(attrs: Any, name: str, where: str, kind: str) -> dict[str, Any]:
    """The ``wemd`` attribute of a store, refused unless it is a complete store of ``name``."""
    fix = f"convert it again: `wemd convert {name} OUT --to {kind}`"
    if not isinstance(attrs, dict) or attrs.get("format") != STORE_FORMAT:
        raise StoreError(f"{where} is not a wemd {kind} store (no {STORE_FORMAT!r} attributes); "
                         f"{fix}.")
    if attrs.get("dataset") != name:
        raise StoreError(f"{where} holds {attrs.get('dataset')!r}, not {name!r}: point url= at the "
                         f"store of {name}, or {fix}.")
    if attrs.get("complete") is not True:
        raise StoreError(f"{where} is incomplete (its conversion never finished: no completion "
                         f"marker); delete it and {fix}.")
    splits = attrs.get("splits")
    if not isinstance(splits, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("count"), int)
            and isinstance(v.get("fingerprint"), str) for v in splits.values()):
        raise CorruptFileError(where, f"its 'splits' attribute is malformed; {fix}")
    if attrs.get("provenance") not in PROVENANCES:
        raise CorruptFileError(where, f"unknown provenance {attrs.get('provenance')!r}; {fix}")
    if attrs.get("catalog_version") != catalog.CATALOG_VERSION:
        raise StoreError(f"{where} was written for catalog version {attrs.get('catalog_version')!r}"
                         f", this wemd has {catalog.CATALOG_VERSION!r}; {fix}.")
    return attrs


#: Bounds on a store's declared chunking (a hostile one could make one read a whole split).
MAX_CHUNK_BYTES, MAX_BATCH_BYTES = 64 << 20, 1 << 30


def store_chunking(attrs: dict, spec: DatasetSpec, where: str) -> tuple[int, int]:
    """(items per dask chunk / shard, items per inner chunk) from a store's ``chunking``
    attribute, refused unless they are positive integers within ``MAX_*_BYTES``."""
    plan = attrs.get("chunking")
    if plan is None and spec.item_shape is None:
        return 1, 1  # varied shapes: one image at a time
    try:
        batch, chunk = plan["batch"], plan["chunk"][0]
    except (TypeError, KeyError, IndexError):
        batch = chunk = None
    item = np.dtype(spec.dtype).itemsize * math.prod(spec.item_shape or (1,))
    if not all(type(v) is int and v > 0 for v in (batch, chunk)) or \
            chunk * item > MAX_CHUNK_BYTES or batch * item > MAX_BATCH_BYTES:
        raise CorruptFileError(where, f"its 'chunking' attribute {plan!r} is not a chunking of "
                               f"{spec.name} (positive sizes, chunks <= {MAX_CHUNK_BYTES >> 20} "
                               f"MB, batches <= {MAX_BATCH_BYTES >> 20} MB); convert it again")
    return batch, chunk


def wanted_splits(spec: DatasetSpec, split: str, val_fold: Optional[int], stored: Sequence[str],
                  name: str, where: str, kind: str) -> list[str]:
    """The stored splits a load of ``split`` (or a moving window) needs; missing ones named."""
    whole = split == "all" or val_fold is not None
    wanted = [s for s in spec.splits if s in stored] if whole else [split]
    if val_fold is not None:
        wanted = [s for s in ("train", "val") if s in spec.splits]
    for s in wanted:
        if s not in stored:
            raise DataMissingError(name, where, f"The store holds splits {', '.join(stored)}, not "
                                   f"{s!r}; convert it with `wemd convert {name} OUT --to {kind} "
                                   f"--split {s}`.")
    return wanted


# ---------------------------------------------------------------------------------- the reader

class StoreSource(Source):
    """Items of one split of a store, each checked against its digest as it is read.

    Subclasses implement ``_open(what)`` and ``files()``. Fixed shapes are read by inner chunk:
    a read decodes the chunks it needs (a read that follows the last chunk read goes on to the
    end of its shard) into a bounded cache (``cache_bytes``); every item is hashed against its
    digest before it is first handed out, and not again while its chunk stays cached (the cache
    is this process's own read-only memory); what is handed out is always a copy. Images of
    varied shape are read and checked one by one.
    """

    def __init__(self, spec: DatasetSpec, index: ItemIndex, where: str, split: str, batch: int):
        self.spec, self.index, self.where, self.split = spec, index, where, split
        self.item_shape = tuple(spec.item_shape) if spec.item_shape else None
        self.dtype = np.dtype(spec.dtype)
        self.batch = batch  # items per dask chunk
        self.digest_is_data = digest_is_data(spec)
        self.claimed_fingerprint = ""  # the store's; set by check_fingerprint
        self.cache_bytes = CACHE_BYTES
        self._reset()

    def _reset(self) -> None:
        """An empty cache of checked inner chunks (per process: never pickled)."""
        self._cache: OrderedDict[int, _Chunk] = OrderedDict()
        self._cached = 0  # bytes in the cache
        self._last: Optional[int] = None  # the last chunk read (sequential reads read ahead)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_cache", "_cached", "_last", "_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset()

    def __len__(self) -> int:
        return len(self.index)

    # subclasses -------------------------------------------------------------------------
    def read_fix(self) -> str:
        """What to do when a read fails (for the message)."""
        return f"delete the store and convert {self.spec.name} again"

    def _open(self, what: str) -> Any:
        """The stored array ``what`` (``items``, ``images/{k}``, ``index``) of this split."""
        raise NotImplementedError

    def chunk_items(self) -> int:
        return 1

    def _read(self, what: str, key: Any, ndim: Optional[int] = None,
              limit: Optional[int] = None) -> np.ndarray:
        """``what[key]``, refused unless the stored array has the dtype of what it holds (bytes
        for the index, the dataset's for items: a hostile dtype of megabytes per element would
        make a small read allocate terabytes); with ``ndim``/``limit``, also unless it has that
        many axes and at most ``limit`` elements. Checked before anything is allocated."""
        try:
            arr = self._open(what)
            shape = tuple(arr.shape)
            if ndim is not None and (len(shape) != ndim or math.prod(shape) > limit):
                raise CorruptFileError(self.where, f"{self.split}/{what} declares shape {shape}, "
                                       f"not {ndim}-D with at most {limit} elements; "
                                       f"{self.read_fix()}")
            want = np.dtype(np.uint8) if what == "index" else self.dtype
            if np.dtype(arr.dtype).newbyteorder("=") != want:  # either byte order, as item_problem
                raise CorruptFileError(self.where, f"{self.split}/{what} declares dtype "
                                       f"{arr.dtype}, not {want}; {self.read_fix()}")
            return np.asarray(arr[key])
        except WEMDError:
            raise
        except Exception as exc:  # codecs, shard indexes, HDF5 filters, transports: many types
            raise CorruptFileError(self.where, f"{self.split}/{what} unreadable "
                                   f"({type(exc).__name__}: {exc}); {self.read_fix()}") from exc

    def _rows(self, a: int, b: int) -> np.ndarray:
        return self._read("items", slice(a, b))

    def _image(self, i: int) -> np.ndarray:
        return self._read(f"images/{i}", ..., ndim=2, limit=MAX_IMAGE_PIXELS)

    def read_index(self) -> "ItemIndex":
        """This split's item index, bounded in size before it is read."""
        raw = self._read("index", ..., ndim=1, limit=MAX_INDEX_BYTES)
        return ItemIndex.from_bytes(raw.tobytes(), f"{self.where}/{self.split}/index")

    # reading ----------------------------------------------------------------------------
    def _checked(self, i: int, item: np.ndarray) -> np.ndarray:
        problem = item_problem(item, self.item_shape, self.dtype)
        if problem is None and data_digest(item) != self.index.data_sha256[i]:
            problem = "its bytes differ from the digest stored with it (a damaged or edited chunk)"
        if problem:
            raise CorruptFileError(self.where, f"{self.split} item {i} ({self.item_id(i)}): "
                                   f"{problem}; delete the store and convert "
                                   f"{self.spec.name} again")
        return item

    def _check_items(self, positions: np.ndarray, rows: np.ndarray) -> None:
        """Check each item against its digest (``rows[k]`` is item ``positions[k]``); hashlib
        releases the GIL, so many items are hashed on ``HASH_THREADS`` threads."""
        work = list(zip(positions.tolist(), rows))
        if len(work) < 32:
            for i, row in work:
                self._checked(i, row)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(HASH_THREADS) as pool:
            list(pool.map(lambda w: self._checked(*w), work))

    def _chunks(self, wanted: list[int], ahead: bool) -> dict[int, "_Chunk"]:
        """The decoded inner chunks ``wanted`` (sorted chunk numbers): from the cache, else read
        (a run of consecutive chunks in one read; with ``ahead``, on to the end of its shard, for
        a sequential reader) and cached. Nothing in them has
        been handed out unchecked: :meth:`get_many` checks each item on its first use."""
        step, n = self.chunk_items(), len(self)
        with self._lock:
            found = {k: self._cache[k] for k in wanted if k in self._cache}
            for k in found:
                self._cache.move_to_end(k)
        missing = [k for k in wanted if k not in found]
        if not missing:
            return found
        reads = []  # (chunk numbers, their positions, their rows) of each read
        per_shard = max(1, self.batch // step)
        # one read per run (a fancy read of scattered whole chunks measured 5x slower)
        for run in np.split(np.array(missing), np.flatnonzero(np.diff(missing) != 1) + 1):
            first, last = int(run[0]), int(run[-1])
            if ahead:
                last = max(last, min((first // per_shard + 1) * per_shard, -(-n // step)) - 1)
            a, b = first * step, min((last + 1) * step, n)
            reads.append((range(first, last + 1), np.arange(a, b), self._rows(a, b)))
        for ks, pos, rows in reads:
            rows.flags.writeable = False  # the cache's own copy: callers get copies
            for k in ks:
                lo, hi = np.searchsorted(pos, [k * step, (k + 1) * step])
                found[k] = _Chunk(rows[lo:hi])
        with self._lock:
            for k in (k for ks, _, _ in reads for k in ks):
                if k not in self._cache:
                    self._cache[k] = found[k]
                    self._cached += found[k].rows.nbytes
            while self._cached > self.cache_bytes and len(self._cache) > 1:
                self._cached -= self._cache.popitem(last=False)[1].rows.nbytes
        return found

    def get(self, i: int) -> np.ndarray:
        if self.item_shape is None:
            return self._checked(i, self._image(i))
        k, j = divmod(i, self.chunk_items())
        c = self._cache.get(k)  # fast path: an item already checked in a cached chunk
        if c is not None and c.checked[j]:
            return c.rows[j].copy()
        return self.get_many(np.array([i]))[0]

    def get_many(self, idx: np.ndarray) -> Any:
        """Items at ``idx`` (a copy), from decoded inner chunks (:meth:`_chunks`), each item
        checked against its digest the first time it is handed out."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.item_shape is None or not len(idx):
            return super().get_many(idx)
        step = self.chunk_items()
        a, b = int(idx[0]), int(idx[-1]) + 1
        contiguous = b - a == len(idx) and (len(idx) == 1 or bool(np.all(np.diff(idx) == 1)))
        chunk_of = None if contiguous else idx // step
        chunks = list(range(a // step, (b - 1) // step + 1)) if contiguous else \
            np.unique(chunk_of).tolist()
        ahead = self._last is not None and chunks[0] == self._last + 1 and \
            self.cache_bytes >= self.batch * self.dtype.itemsize * math.prod(self.item_shape)
        # (sequential, and a shard fits in the cache: read on to the end of the shard)
        found = self._chunks(chunks, ahead)
        self._last = chunks[-1]
        for k in chunks:
            c = found[k]
            if c.done:
                continue
            if contiguous:
                todo = np.arange(max(a - k * step, 0), min(b - k * step, len(c.rows)))
            else:
                todo = np.unique(idx[chunk_of == k] - k * step)
            todo = todo[~c.checked[todo]]
            if len(todo):
                self._check_items(todo + k * step, c.rows[todo])
                c.checked[todo] = True
                c.done = bool(c.checked.all())
        if contiguous:
            return np.concatenate([found[k].rows[max(a - k * step, 0):b - k * step]
                                   for k in chunks])
        out = np.empty((len(idx),) + self.item_shape, self.dtype)
        for j, (k, r) in enumerate(zip(chunk_of.tolist(), (idx % step).tolist())):
            out[j] = found[k].rows[r]  # item by item: cheaper than a mask per chunk
        return out

    def item_id(self, i: int) -> str:
        return self.index.ids[i]

    def metadata(self, i: int) -> dict[str, Any]:
        return {**self.index.meta[i], "id": self.index.ids[i], "store": self.where}

    def digest(self, i: int) -> str:
        return self.get_with_digest(i)[1]

    def get_with_digest(self, i: int) -> tuple[Any, str]:
        return self.get(i), self.checked_digest(i)  # get: checked against data_sha256

    def checked_digest(self, i: int) -> str:
        """Item ``i``'s native digest, for a caller that has just read it (checked) through
        ``get`` or ``get_many``: its data digest for array rows, else the stored file digest."""
        return self.index.data_sha256[i] if self.digest_is_data else self.index.sha256[i]


def cache_size(cache_mb: Optional[float]) -> int:
    """``cache_mb`` of a store load in bytes (None: ``CACHE_BYTES``), refused if negative."""
    if cache_mb is None:
        return CACHE_BYTES
    if not cache_mb >= 0:
        raise StoreError(f"cache_mb must be 0 or more MB, not {cache_mb!r}")
    return int(cache_mb * (1 << 20))


class _Chunk:
    """One decoded inner chunk in a reader's cache, and which of its items have been checked."""

    __slots__ = ("rows", "checked", "done")

    def __init__(self, rows: np.ndarray):
        self.rows, self.checked, self.done = rows, np.zeros(len(rows), bool), False


def check_fingerprint(spec: DatasetSpec, split: str, src: StoreSource, attrs: dict) -> None:
    """Refuse a split whose items array, index and fingerprint disagree with what the store
    claims (fixed shapes: ``items`` must be [len(index), *item_shape])."""
    from wemd.dataset import WEMDDataset

    if spec.item_shape is not None:
        try:
            shape = tuple(src._open("items").shape)
        except Exception:  # absent: the same refusal as a wrong shape
            shape = None
        if shape != (len(src.index),) + tuple(spec.item_shape):
            raise CorruptFileError(src.where, f"{split}/items has shape {shape}, its index lists "
                                   f"{len(src.index)} items of {spec.item_shape}; convert "
                                   f"{spec.name} again")

    if src.digest_is_data and src.index.sha256 != src.index.data_sha256:
        raise CorruptFileError(src.where, f"split {split}: native and data digests of array rows "
                               f"differ; convert {spec.name} again")
    claimed = attrs["splits"][split]
    ds = WEMDDataset(spec, split, src, src.where, attrs["provenance"])
    if claimed["count"] != len(src) or ds.fingerprint(digests=src.index.sha256) != claimed["fingerprint"]:
        raise CorruptFileError(src.where, f"split {split}: its items do not give the count and "
                               f"fingerprint the store claims; convert {spec.name} again")
    src.claimed_fingerprint = claimed["fingerprint"]


def manifest_of(attrs: dict) -> Any:
    """The native manifest recorded in a store (None for data placed by hand)."""
    from wemd.manifest import Manifest

    m = attrs.get("manifest")
    if not isinstance(m, dict):
        return None
    splits = m.get("splits")
    return Manifest(dataset=attrs["dataset"], provenance=attrs["provenance"],
                    splits=dict(splits) if isinstance(splits, dict) else None,
                    generator=m.get("generator") if isinstance(m.get("generator"), dict) else {},
                    description=m.get("description") if isinstance(m.get("description"), str) else "",
                    spec=m.get("spec") if isinstance(m.get("spec"), dict) else {})


def opened_store(raw_attrs: Any, name: str, split: str, where: str,
                 kind: str) -> tuple[dict, DatasetSpec, str, int, int]:
    """What every store load checks first: (attrs, spec, canonical split, items per batch,
    items per chunk) from a store's raw ``wemd`` attribute."""
    attrs = check_attrs(raw_attrs, name, where, kind)
    spec = store_spec(name, attrs, where)
    split = catalog.canonical_split(spec, split, extra=("all",))
    return (attrs, spec, split, *store_chunking(attrs, spec, where))


def store_spec(name: str, attrs: dict, where: str) -> DatasetSpec:
    """The catalog entry of a store's dataset. A curated dataset the catalog does not know yet is
    declared by the manifest the store carries, so its store loads in a process that never saw
    the curated folder (the declaration is checked field by field, like the folder's)."""
    if name in catalog.CATALOG or attrs.get("provenance") != "curated":
        return catalog.get(name)
    manifest = manifest_of(attrs)
    if manifest is None or not manifest.spec:
        raise StoreError(f"{where} holds the curated dataset {name!r} but no declaration of it; "
                         f"convert it again with `wemd convert {name} OUT --root HOME`.")
    return catalog.declare(manifest, where)
