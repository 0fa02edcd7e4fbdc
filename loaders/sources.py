"""Item sources: the readers behind a dataset split, one per on-disk format.

A source maps positions 0..len-1 to items. It holds paths and ranges, never data, so a dataset
pickles small (PyTorch DataLoader workers) and memory maps reopen lazily in each process.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from wemd.errors import CorruptFileError
from wemd.files import sha256_file


def natural_key(path: Path) -> tuple:
    """Sort key that orders '2.tif' before '10.tif'."""
    parts = re.split(r"(\d+)", path.name)
    return tuple(int(p) if p.isdigit() else p.lower() for p in parts)


class Source:
    """Positions 0..len-1 of one split (or a concatenation of splits)."""

    item_shape: Optional[tuple[int, ...]] = None  # None when items vary in shape
    dtype: Optional[np.dtype] = None

    def __len__(self) -> int:
        raise NotImplementedError

    def get(self, i: int) -> Any:
        raise NotImplementedError

    def get_many(self, idx: np.ndarray) -> Any:
        """Items at the given positions, stacked when they share a shape, else a list."""
        if self.item_shape is None or self.dtype is None:
            return [self.get(int(i)) for i in idx]
        out = np.empty((len(idx),) + tuple(self.item_shape), dtype=self.dtype)
        for k, i in enumerate(idx):
            out[k] = self.get(int(i))
        return out

    def item_id(self, i: int) -> str:
        raise NotImplementedError

    def metadata(self, i: int) -> dict[str, Any]:
        return {"id": self.item_id(i)}

    def digest(self, i: int, known: Optional[dict[str, dict]] = None) -> str:
        """sha256 of the item's stored content (from the manifest's hashes when it has them)."""
        raise NotImplementedError

    def files(self) -> list[Path]:
        """Every file this source reads, for verification."""
        raise NotImplementedError


class FileSource(Source):
    """One file per item (TIFF images, wavefunction .npy files, focal-series folders)."""

    def __init__(self, base: Path, paths: Sequence[Path], reader: "ItemReader",
                 meta_paths: Optional[Sequence[Optional[Path]]] = None,
                 extra_meta: Optional[Sequence[dict]] = None):
        self.base = Path(base)
        self.paths = list(paths)
        self.reader = reader
        self.meta_paths = list(meta_paths) if meta_paths is not None else None
        self.extra_meta = list(extra_meta) if extra_meta is not None else None
        self.item_shape = reader.item_shape
        self.dtype = reader.dtype

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> Any:
        return self.reader.read(self.paths[i])

    def item_id(self, i: int) -> str:
        return self.paths[i].relative_to(self.base).as_posix()

    def metadata(self, i: int) -> dict[str, Any]:
        meta: dict[str, Any] = {"id": self.item_id(i), "path": str(self.paths[i])}
        if self.extra_meta is not None:
            meta.update(self.extra_meta[i])
        if self.meta_paths is not None and self.meta_paths[i] is not None:
            mp = self.meta_paths[i]
            try:
                meta.update(json.loads(mp.read_text()))
            except (OSError, json.JSONDecodeError) as exc:
                raise CorruptFileError(mp, f"metadata JSON unreadable ({exc})") from exc
            meta["meta_path"] = str(mp)
        return meta

    def digest(self, i: int, known: Optional[dict[str, dict]] = None) -> str:
        entry = (known or {}).get(self.item_id(i))
        if entry and "sha256" in entry:
            return entry["sha256"]
        return self.reader.digest(self.paths[i])

    def files(self) -> list[Path]:
        extra = [p for p in (self.meta_paths or []) if p is not None]
        return self.paths + extra


class ArraySource(Source):
    """Rows [start, stop) of one .npy array, memory-mapped lazily and never loaded whole."""

    def __init__(self, base: Path, path: Path, start: int, stop: int,
                 item_shape: tuple[int, ...], dtype: np.dtype):
        self.base, self.path = Path(base), Path(path)
        self.start, self.stop = start, stop
        self.item_shape, self.dtype = tuple(item_shape), np.dtype(dtype)
        self._mm: Optional[np.ndarray] = None

    @property
    def array(self) -> np.ndarray:
        """The whole memory-mapped array (opened on first use in each process)."""
        if self._mm is None:
            try:
                self._mm = np.load(self.path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise CorruptFileError(self.path, str(exc)) from exc
        return self._mm

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_mm"] = None  # never pickle the data; reopen in the worker
        return state

    def __len__(self) -> int:
        return self.stop - self.start

    def get(self, i: int) -> np.ndarray:
        return np.array(self.array[self.start + i])

    def get_many(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        if len(idx) and np.all(np.diff(idx) == 1):  # contiguous: one sequential read
            return np.array(self.array[self.start + idx[0]: self.start + idx[-1] + 1])
        return self.array[self.start + idx]

    def item_id(self, i: int) -> str:
        return f"{self.path.relative_to(self.base).as_posix()}[{self.start + i}]"

    def metadata(self, i: int) -> dict[str, Any]:
        return {"id": self.item_id(i), "path": str(self.path), "row": self.start + i}

    def digest(self, i: int, known: Optional[dict[str, dict]] = None) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.array[self.start + i]).tobytes()).hexdigest()

    def files(self) -> list[Path]:
        return [self.path]


class ConcatSource(Source):
    """Several sources one after another (split='all', moving validation windows)."""

    def __init__(self, parts: Sequence[Source], names: Optional[Sequence[str]] = None):
        self.parts = list(parts)
        self.names = list(names) if names is not None else None  # split of each part
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])
        shapes = {p.item_shape for p in self.parts}
        dtypes = {p.dtype for p in self.parts}
        self.item_shape = shapes.pop() if len(shapes) == 1 else None
        self.dtype = dtypes.pop() if len(dtypes) == 1 else None

    def _part(self, i: int) -> int:
        return int(np.searchsorted(self.offsets, i, side="right")) - 1

    def _locate(self, i: int) -> tuple[Source, int]:
        k = self._part(i)
        return self.parts[k], i - int(self.offsets[k])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def get(self, i: int) -> Any:
        part, j = self._locate(i)
        return part.get(j)

    def item_id(self, i: int) -> str:
        part, j = self._locate(i)
        return part.item_id(j)

    def metadata(self, i: int) -> dict[str, Any]:
        part, j = self._locate(i)
        meta = part.metadata(j)
        if self.names is not None:
            meta["split"] = self.names[self._part(i)]
        return meta

    def digest(self, i: int, known: Optional[dict[str, dict]] = None) -> str:
        part, j = self._locate(i)
        return part.digest(j, known)

    def files(self) -> list[Path]:
        seen: dict[Path, None] = {}
        for p in self.parts:
            seen.update(dict.fromkeys(p.files()))
        return list(seen)


class RangeSource(Source):
    """Positions [start, stop) of another source (contiguous splits of a flat folder)."""

    def __init__(self, inner: Source, start: int, stop: int):
        self.inner, self.start, self.stop = inner, start, stop
        self.item_shape, self.dtype = inner.item_shape, inner.dtype

    def __len__(self) -> int:
        return self.stop - self.start

    def get(self, i: int) -> Any:
        return self.inner.get(self.start + i)

    def item_id(self, i: int) -> str:
        return self.inner.item_id(self.start + i)

    def metadata(self, i: int) -> dict[str, Any]:
        return self.inner.metadata(self.start + i)

    def digest(self, i: int, known: Optional[dict[str, dict]] = None) -> str:
        return self.inner.digest(self.start + i, known)

    def files(self) -> list[Path]:
        if isinstance(self.inner, FileSource):
            return self.inner.paths[self.start:self.stop]
        return self.inner.files()


class ItemReader:
    """Reads one item from one path and checks what it read."""

    def __init__(self, item_shape: Optional[tuple[int, ...]], dtype: Optional[str]):
        self.item_shape = tuple(item_shape) if item_shape is not None else None
        self.dtype = np.dtype(dtype) if dtype not in (None, "str") else None

    def read(self, path: Path) -> Any:
        raise NotImplementedError

    def digest(self, path: Path) -> str:
        return sha256_file(path)


class TiffReader(ItemReader):
    def read(self, path: Path) -> np.ndarray:
        import tifffile

        try:
            data = tifffile.imread(path)
        except Exception as exc:  # tifffile raises several types for damaged files
            raise CorruptFileError(path, f"TIFF unreadable ({type(exc).__name__}: {exc})") from exc
        return data.astype(self.dtype or np.float32, copy=False)


class NpyReader(ItemReader):
    def read(self, path: Path) -> np.ndarray:
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise CorruptFileError(path, f".npy unreadable ({exc})") from exc
        return data.astype(self.dtype, copy=False) if self.dtype is not None else data


class SeriesReader(ItemReader):
    """A focal series: a folder of TIFF images, or one multi-page TIFF."""

    def read(self, path: Path) -> np.ndarray:
        import tifffile

        files = sorted(path.glob("*.tif*"), key=natural_key) if path.is_dir() else [path]
        try:
            frames = [tifffile.imread(f) for f in files]
        except Exception as exc:
            raise CorruptFileError(path, f"focal series unreadable ({exc})") from exc
        data = np.concatenate([f.reshape((-1,) + f.shape[-2:]) for f in frames])
        return data.astype(np.float32, copy=False)

    def digest(self, path: Path) -> str:
        if not path.is_dir():
            return sha256_file(path)
        h = hashlib.sha256()
        for f in sorted(path.glob("*.tif*"), key=natural_key):
            h.update(f.name.encode() + b"\0" + sha256_file(f).encode())
        return h.hexdigest()


class TextReader(ItemReader):
    """CIF files: the item is the file's text."""

    def read(self, path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CorruptFileError(path, str(exc)) from exc
