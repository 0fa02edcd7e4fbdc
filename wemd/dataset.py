"""The dataset object: a map-style view of one split, read lazily from disk."""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from wemd.catalog import CATALOG_VERSION, DatasetSpec
from wemd.loaders.sources import Source
from wemd.manifest import Manifest

#: A cached fingerprint is trusted only if every file had last changed this long before hashing
#: began: file times are coarse (a clock tick; 2 s on some file systems), so a file rewritten just
#: after it was hashed could otherwise keep every time stamp it had (git's "racily clean" files).
RACY_WINDOW_NS = 2_000_000_000


class WEMDDataset:
    """Items of one split of one dataset, in the fixed published order.

    ``ds[i]`` is one item (an array, or a CIF's text); ``ds[a:b]`` and ``ds[[i, j, ...]]`` return
    the items stacked into one array when they share a shape, else a list.
    """

    def __init__(self, spec: DatasetSpec, split: str, source: Source, root: Any,
                 provenance: str = "real", manifest: Optional[Manifest] = None,
                 notes: tuple[str, ...] = (), window: Optional[str] = None):
        self.spec = spec
        self.split = split
        self.source = source
        # a remote store's URL stays a string (a Path would fold its "//")
        self.root: Any = root if isinstance(root, str) and "://" in root else Path(root)
        self.provenance = provenance
        self.manifest = manifest
        self.notes = tuple(notes)
        self.window = window  # description of a moving validation window, if any
        for note in self.notes:
            warnings.warn(note, stacklevel=3)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_synthetic(self) -> bool:
        return self.provenance in ("synthetic", "simulated")

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            n = len(self.source)
            i = int(key)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"index {key} out of range for {self.name}/{self.split} of length {n}")
            return self.source.get(i)
        if isinstance(key, slice):
            return self.source.get_many(np.arange(len(self.source))[key])
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(f"boolean mask of shape {idx.shape} for {len(self)} items")
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"index with an int, a slice or a 1-D integer array, not {type(key).__name__}")
        idx = np.where(idx < 0, idx + len(self), idx)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"indices out of range for {self.name}/{self.split} of length {len(self)}")
        return self.source.get_many(idx)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self.source.get(i)

    def metadata(self, i: int) -> dict[str, Any]:
        """What is known about item ``i``: its file, and for wavefunctions the simulation record."""
        meta = self.source.metadata(int(i))
        if self.provenance == "curated":  # wemd curate's table: source file, pixel size, ...
            from wemd.curate.table import item_row

            meta.update(item_row(self.root, meta["id"]))
        meta.update(dataset=self.name, split=meta.get("split", self.split), position=int(i),
                    provenance=self.provenance)
        return meta

    def item_id(self, i: int) -> str:
        return self.source.item_id(int(i))

    def fingerprint(self, progress: bool = False, *, digests: Optional[Sequence[str]] = None) -> str:
        """sha256 over the catalog version, provenance, item identities and content hashes.

        Stable across machines: it depends on the split's items and bytes, not on paths or time.
        Content hashes are always computed from the bytes (a manifest's listed hashes are only
        checked by ``wemd verify``). Hashing reads every byte once; the result is cached under the
        data home, keyed by each file's path, size, inode, modification and change times, and only
        trusted for files that had settled before hashing began (see ``RACY_WINDOW_NS``).
        ``digests``: every item's digest, from a caller that has just hashed the bytes it read
        (an export), so the data is not read twice.
        """
        from tqdm.auto import tqdm

        header = f"wemd-fingerprint/1|catalog {CATALOG_VERSION}|{self.name}|{self.split}|" \
                 f"{self.window or ''}|{self.provenance}|{len(self)}\n"
        cache = None
        if digests is None:
            started = time.time_ns()  # before the files are examined: later changes show
            cache, newest = self._fingerprint_cache(header)
            if cache is not None and cache.is_file():
                lines = cache.read_text().splitlines()
                if len(lines) == 2 and lines[1].isdigit() and newest < int(lines[1]) - RACY_WINDOW_NS:
                    return lines[0]
            digests = (self.source.digest(i) for i in tqdm(
                range(len(self)), desc=f"fingerprint {self.name}/{self.split}", disable=not progress,
                unit="item"))
        elif len(digests) != len(self):
            raise ValueError(f"{len(digests)} digests for {len(self)} items of {self.name}/{self.split}")
        h = hashlib.sha256(header.encode())
        for i, digest in enumerate(digests):
            h.update(f"{self.source.item_id(i)}:{digest}\n".encode())
        result = f"{self.provenance}:{h.hexdigest()}"
        if cache is not None:
            from wemd.files import write_text

            try:
                write_text(cache, f"{result}\n{started}\n")
            except OSError as exc:
                warnings.warn(f"could not cache the fingerprint at {cache}: {exc}", stacklevel=2)
        return result

    def _fingerprint_cache(self, header: str) -> tuple[Optional[Path], int]:
        """The cache file for the files as they are now, and the newest of their time stamps.

        The file is named by a hash of the header and every file's path, device, inode, size,
        modification and change times: a rewrite moves the change time (which utime() cannot set
        back) and a replacement the inode. (None, 0) when a file cannot be examined or the
        source has no local files.
        """
        from wemd.home import data_home

        if not self.source.files():
            return None, 0  # nothing local to key a cache on (a remote store): hash afresh
        key = hashlib.sha256(header.encode())
        if len(self):
            key.update(f"{self.source.item_id(0)}|{self.source.item_id(len(self) - 1)}".encode())
        newest = 0
        try:
            for path in self.source.files():
                st = Path(path).stat()
                key.update(os.fsencode(Path(path).resolve()) + f"|{st.st_dev}|{st.st_ino}|"
                           f"{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}\n".encode())
                newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
        except OSError:
            return None, 0  # a file vanished: hash from scratch and let reading report it
        return data_home() / ".cache" / "fingerprints" / f"{key.hexdigest()}.txt", newest

    def batch_size(self) -> int:
        """Items per chunk of :meth:`to_dask` and per task of ``wemd.stats``: a store's shard,
        else the batch a store of this dataset would use (about 64 MB of items; see
        ``wemd.stores.common.chunking``); 16 for images of varied size."""
        from wemd.stores.common import chunking

        if getattr(self.source, "batch", 0):
            return int(self.source.batch)
        return 16 if self.spec.item_shape is None else chunking(self.spec).batch

    def to_dask(self, batch: Optional[int] = None) -> Any:
        """This split as a lazily read ``dask.array`` with one chunk per item batch.

        Each chunk reads its items through this dataset's reader when computed (native files,
        zarr or HDF5 stores alike), so nothing is read here. Items of varied shape (stem_full)
        make no common array.
        """
        from wemd.errors import WEMDError, require

        da = require("dask.array", "arrays")

        shape, dtype = self.source.item_shape, self.source.dtype
        if shape is None or dtype is None:
            raise WEMDError(f"{self.name} items vary in shape (or are text), so they make no single "
                            "array: read them one by one (ds[i]), e.g. in dask.delayed tasks.")
        batch = int(batch or self.batch_size())
        n = len(self)
        chunks = (tuple(min(batch, n - a) for a in range(0, n, batch)) or (0,),) + \
            tuple((d,) for d in shape)
        return da.map_blocks(_read_block, self.source, dtype=dtype, chunks=chunks,
                             meta=np.empty((0,) * (len(shape) + 1), dtype),
                             name=f"wemd-{self.name}-{self.split}-{batch}-" + hashlib.sha256(
                                 f"{self.root}|{self.window}|{n}".encode()).hexdigest()[:16])

    def metadata_frame(self) -> Any:
        """A pandas DataFrame, one typed row per item (see :mod:`wemd.frames`)."""
        from wemd.frames import metadata_frame

        return metadata_frame(self)

    def torch(self, transform: Any = None) -> Any:
        """A ``torch.utils.data.Dataset`` over this split (needs ``wemd[torch]``)."""
        from wemd.loaders.torch import TorchDataset

        return TorchDataset(self, transform=transform)

    def __repr__(self) -> str:
        tag = "" if self.provenance == "real" else f", provenance={self.provenance!r}"
        win = f", window={self.window!r}" if self.window else ""
        return f"WEMDDataset({self.name!r}, split={self.split!r}, n={len(self)}{tag}{win}, root={str(self.root)!r})"


def _read_block(source: Source, block_info: Any = None) -> np.ndarray:
    """The items of one dask chunk, read through ``source`` (the chunk's location says which)."""
    a, b = block_info[None]["array-location"][0]
    return np.asarray(source.get_many(np.arange(a, b)))
