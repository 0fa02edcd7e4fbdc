"""The dataset object: a map-style view of one split, read lazily from disk."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from wemd.catalog import CATALOG_VERSION, DatasetSpec
from wemd.loaders.sources import Source
from wemd.manifest import Manifest


class WEMDDataset:
    """Items of one split of one dataset, in the fixed published order.

    ``ds[i]`` is one item (an array, or a CIF's text); ``ds[a:b]`` and ``ds[[i, j, ...]]`` return
    the items stacked into one array when they share a shape, else a list.
    """

    def __init__(self, spec: DatasetSpec, split: str, source: Source, root: Path,
                 provenance: str = "real", manifest: Optional[Manifest] = None,
                 notes: tuple[str, ...] = (), window: Optional[str] = None):
        self.spec = spec
        self.split = split
        self.source = source
        self.root = Path(root)
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
        meta.update(dataset=self.name, split=meta.get("split", self.split), position=int(i),
                    provenance=self.provenance)
        return meta

    def item_id(self, i: int) -> str:
        return self.source.item_id(int(i))

    def fingerprint(self, progress: bool = False) -> str:
        """sha256 over the catalog version, provenance, item identities and content hashes.

        Stable across machines: it depends on the split's items and bytes, not on paths or time.
        Hashing real data reads every byte once; the result is cached under the data home, keyed
        by the files' paths, sizes and modification times, so unchanged data is not read again.
        """
        from tqdm.auto import tqdm

        header = f"wemd-fingerprint/1|catalog {CATALOG_VERSION}|{self.name}|{self.split}|" \
                 f"{self.window or ''}|{self.provenance}|{len(self)}\n"
        cache = self._fingerprint_cache_path(header)
        if cache is not None and cache.is_file():
            return cache.read_text().strip()
        h = hashlib.sha256(header.encode())
        known = self.manifest.files if self.manifest else None
        for i in tqdm(range(len(self)), desc=f"fingerprint {self.name}/{self.split}",
                      disable=not progress, unit="item"):
            h.update(f"{self.source.item_id(i)}:{self.source.digest(i, known)}\n".encode())
        result = f"{self.provenance}:{h.hexdigest()}"
        if cache is not None:
            from wemd.files import write_text

            try:
                write_text(cache, result)
            except OSError as exc:
                warnings.warn(f"could not cache the fingerprint at {cache}: {exc}", stacklevel=2)
        return result

    def _fingerprint_cache_path(self, header: str) -> Optional[Path]:
        """Cache file named by a hash of the header and every file's path, size and mtime."""
        from wemd.home import data_home

        key = hashlib.sha256(header.encode())
        if len(self):
            key.update(f"{self.source.item_id(0)}|{self.source.item_id(len(self) - 1)}".encode())
        try:
            for path in self.source.files():
                st = Path(path).stat()
                key.update(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            return None  # a file vanished: hash from scratch and let reading report it
        return data_home() / ".cache" / "fingerprints" / f"{key.hexdigest()}.txt"

    def torch(self, transform: Any = None) -> Any:
        """A ``torch.utils.data.Dataset`` over this split (needs ``wemd[torch]``)."""
        from wemd.loaders.torch import TorchDataset

        return TorchDataset(self, transform=transform)

    def __repr__(self) -> str:
        tag = "" if self.provenance == "real" else f", provenance={self.provenance!r}"
        win = f", window={self.window!r}" if self.window else ""
        return f"WEMDDataset({self.name!r}, split={self.split!r}, n={len(self)}{tag}{win}, root={str(self.root)!r})"
