"""Item sources: the readers behind a dataset split, one per on-disk format.

A source maps positions 0..len-1 to items. It holds paths and ranges, never data, so a dataset
pickles small (PyTorch DataLoader workers) and memory maps reopen lazily in each process.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from wemd.errors import CorruptFileError, LayoutError
from wemd.files import UnsafeNameError, safe_relpath, sha256_file


def natural_key(path: Path) -> tuple:
    """Sort key that orders '2.tif' before '10.tif' (ASCII digits only: '²' is text, not a number)."""
    parts = re.split(r"([0-9]+)", path.name)
    return tuple(int(p) if k % 2 else p.lower() for k, p in enumerate(parts))


def usable(path: Path) -> Path:
    """``path`` if its name can serve as an item id (UTF-8, no control characters or backslashes),
    else a LayoutError naming it and the fix."""
    try:
        safe_relpath(path.name, "file name", single=True, allow_hidden=True)
    except UnsafeNameError as exc:
        raise LayoutError(f"{exc} It is in {path.parent}: rename it to a UTF-8 name without control "
                          "characters or backslashes.") from None
    return path


def data_digest(item: Any) -> str:
    """sha256 of an item itself: a text's UTF-8 bytes, or an array's bytes in C order.

    The digest of an array row (``ArraySource``), and what an export stores to check each row.
    """
    data = item.encode("utf-8") if isinstance(item, str) else np.ascontiguousarray(item).tobytes()
    return hashlib.sha256(data).hexdigest()


class WrongItemError(CorruptFileError):
    """An item of a shape or dtype its dataset does not accept; ``problem`` says which."""

    def __init__(self, path: Path, problem: str):
        self.problem = problem
        super().__init__(path, problem)


def item_problem(data: np.ndarray, item_shape: Optional[tuple[int, ...]],
                 dtype: np.dtype, free_axes: tuple[int, ...] = ()) -> Optional[str]:
    """What is wrong with an item's shape or dtype for its dataset, or None.

    ``item_shape`` None means a 2-D image of any size. ``free_axes`` (for builds that are not the
    published data) may take another size, the same for all of them (square images stay square).
    The dtype must be the catalog's (in either byte order); nothing is ever broadcast, reshaped
    or cast to fit.
    """
    if item_shape is not None and data.shape != tuple(item_shape) and (
            data.ndim != len(item_shape)
            or any(got != want for k, (got, want) in enumerate(zip(data.shape, item_shape))
                   if k not in free_axes)
            or len({data.shape[k] for k in free_axes}) > 1 or not free_axes):
        other = " (or another square size in a build that is not the published data)" if free_axes else ""
        return f"shape {data.shape}, expected {tuple(item_shape)}{other}"
    if item_shape is None and data.ndim != 2:
        return f"{data.ndim}-D image, expected 2-D"
    if data.dtype.newbyteorder("=") != dtype:
        return f"dtype {data.dtype}, expected {dtype}"
    return None


class Source:
    """Positions 0..len-1 of one split (or a concatenation of splits)."""

    item_shape: Optional[tuple[int, ...]] = None  # None when items vary in shape
    dtype: Optional[np.dtype] = None

    def __len__(self) -> int:
        raise NotImplementedError

    def get(self, i: int) -> Any:
        raise NotImplementedError

    def get_many(self, idx: np.ndarray) -> Any:
        """Items at the given positions, stacked when they share a shape, else a list (never
        broadcast into a shape they do not have)."""
        items = [self.get(int(i)) for i in idx]
        if self.dtype is None or len({np.shape(x) for x in items}) > 1:
            return items
        return np.stack(items) if items else np.empty((0,) + tuple(self.item_shape or ()), self.dtype)

    def item_id(self, i: int) -> str:
        raise NotImplementedError

    def metadata(self, i: int) -> dict[str, Any]:
        return {"id": self.item_id(i)}

    def digest(self, i: int) -> str:
        """sha256 of the item's stored content, always computed from the bytes (never a listing)."""
        raise NotImplementedError

    def get_with_digest(self, i: int) -> tuple[Any, str]:
        """The item and its digest; sources that read files do both from one read."""
        return self.get(i), self.digest(i)

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
                record = json.loads(mp.read_bytes().decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise CorruptFileError(mp, f"metadata JSON is not UTF-8 text ({exc})") from exc
            except (OSError, ValueError, RecursionError) as exc:  # RecursionError: deep nesting
                raise CorruptFileError(mp, f"metadata JSON unreadable ({exc})") from exc
            if not isinstance(record, dict):
                raise CorruptFileError(mp, "metadata must be a JSON object {...}, not a "
                                       f"{type(record).__name__}")
            meta.update(record)
            meta["meta_path"] = str(mp)
        return meta

    def digest(self, i: int) -> str:
        return self.reader.digest(self.paths[i])

    def get_with_digest(self, i: int) -> tuple[Any, str]:
        return self.reader.read_with_digest(self.paths[i])

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
        return self._present(self.array[self.start + i: self.start + i + 1], i)[0]

    def get_many(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        if len(idx) and np.all(np.diff(idx) == 1):  # contiguous: one sequential read
            return self._present(self.array[self.start + idx[0]: self.start + idx[-1] + 1],
                                 int(idx[0]))
        return self._present(self.array[self.start + idx], idx)

    def _present(self, rows: np.ndarray, where: Any) -> np.ndarray:
        """``rows`` as items (a copy): as stored, or, from a float64 file of the authors' (their
        script stacked float32 pixels into ``np.zeros``, float64), narrowed to the catalog's
        float32 only when every value is exactly a float32 value (else refused, never
        rounded). ``where``: the position of the first row, or of each row."""
        if rows.dtype == self.dtype:
            return np.array(rows)
        out = rows.astype(self.dtype)
        same = (out == rows) | (np.isnan(out) & np.isnan(rows))  # compared in float64
        if not same.all():
            k = int(np.flatnonzero(~same.reshape(len(rows), -1).all(axis=1))[0])
            row = self.start + (int(where[k]) if np.ndim(where) else where + k)
            raise CorruptFileError(self.path, f"row {row} holds {rows.dtype} values that are not "
                                   f"{self.dtype} values: only a float64 file whose values are "
                                   "all exact float32 values (the authors' own) is read; convert "
                                   "the array to float32 yourself if rounding is acceptable")
        return out

    def item_id(self, i: int) -> str:
        return f"{self.path.relative_to(self.base).as_posix()}[{self.start + i}]"

    def metadata(self, i: int) -> dict[str, Any]:
        return {"id": self.item_id(i), "path": str(self.path), "row": self.start + i}

    def digest(self, i: int) -> str:
        return data_digest(self.get(i))  # the item as presented (float32 from a float64 file)

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

    def digest(self, i: int) -> str:
        part, j = self._locate(i)
        return part.digest(j)

    def get_with_digest(self, i: int) -> tuple[Any, str]:
        part, j = self._locate(i)
        return part.get_with_digest(j)

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

    def digest(self, i: int) -> str:
        return self.inner.digest(self.start + i)

    def get_with_digest(self, i: int) -> tuple[Any, str]:
        return self.inner.get_with_digest(self.start + i)

    def files(self) -> list[Path]:
        if isinstance(self.inner, FileSource):
            return self.inner.paths[self.start:self.stop]
        return self.inner.files()


def _read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CorruptFileError(path, str(exc)) from exc


class ItemReader:
    """Reads one item from one path and refuses a shape or dtype the catalog does not accept."""

    def __init__(self, item_shape: Optional[tuple[int, ...]], dtype: Optional[str],
                 free_axes: tuple[int, ...] = ()):
        self.item_shape = tuple(item_shape) if item_shape is not None else None
        self.dtype = np.dtype(dtype) if dtype not in (None, "str") else None
        self.free_axes = tuple(free_axes)

    def decode(self, src: Any, path: Path) -> Any:
        """The item as stored in ``src``: the file at ``path``, or its bytes in a BytesIO."""
        raise NotImplementedError

    def check(self, data: Any, path: Path) -> Any:
        """``data`` converted explicitly to the catalog dtype, or WrongItemError naming ``path``."""
        problem = item_problem(data, self.item_shape, self.dtype, self.free_axes)
        if problem:
            raise WrongItemError(path, problem)
        return data.astype(self.dtype, copy=False)

    def read(self, path: Path) -> Any:
        return self.check(self.decode(path, path), path)

    def read_with_digest(self, path: Path) -> tuple[Any, str]:
        """The item and the sha256 of its file, from one read of the file."""
        data = _read_bytes(path)
        return self.check(self.decode(io.BytesIO(data), path), path), hashlib.sha256(data).hexdigest()

    def digest(self, path: Path) -> str:
        return sha256_file(path)


def _imread(src: Any, path: Path) -> np.ndarray:
    import tifffile

    try:
        return tifffile.imread(src)
    except Exception as exc:  # tifffile raises several types for damaged files
        raise CorruptFileError(path, f"TIFF unreadable ({type(exc).__name__}: {exc})") from exc


class TiffReader(ItemReader):
    def decode(self, src: Any, path: Path) -> np.ndarray:
        return _imread(src, path)


class NpyReader(ItemReader):
    def decode(self, src: Any, path: Path) -> np.ndarray:
        try:
            return np.load(src, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise CorruptFileError(path, f".npy unreadable ({exc})") from exc


class SeriesReader(ItemReader):
    """A focal series: a folder of TIFF images (each one frame), or one multi-page TIFF."""

    def frames(self, path: Path) -> list[Path]:
        if not path.is_dir():
            return [path]
        return sorted((usable(f) for f in path.glob("*.tif*")), key=natural_key)

    def decode(self, src: Any, path: Path) -> np.ndarray:
        if not path.is_dir():
            return _imread(src, path)
        return self.stack([(f, _imread(f, f)) for f in self.frames(path)], path)

    def stack(self, frames: list[tuple[Path, np.ndarray]], path: Path) -> np.ndarray:
        """The frames of a series folder as one [frames, H, W] array, each frame checked first."""
        for f, frame in frames:
            problem = item_problem(frame, None, self.dtype)
            if problem:
                raise WrongItemError(path, f"{f.name}: {problem}")
        shapes = sorted({frame.shape for _, frame in frames})
        if len(shapes) > 1:
            raise WrongItemError(path, f"frames of shapes {', '.join(map(str, shapes))}, expected "
                                       f"{len(frames)} frames of {self.item_shape[1:]}")
        return np.stack([frame for _, frame in frames]) if frames else np.empty((0, 0, 0), self.dtype)

    def read_with_digest(self, path: Path) -> tuple[Any, str]:
        if not path.is_dir():
            return super().read_with_digest(path)
        h, frames = hashlib.sha256(), []
        for f in self.frames(path):
            data = _read_bytes(f)
            frames.append((f, _imread(io.BytesIO(data), f)))
            h.update(f.name.encode() + b"\0" + hashlib.sha256(data).hexdigest().encode())
        return self.check(self.stack(frames, path), path), h.hexdigest()

    def digest(self, path: Path) -> str:
        if not path.is_dir():
            return sha256_file(path)
        h = hashlib.sha256()
        for f in self.frames(path):
            h.update(f.name.encode() + b"\0" + sha256_file(f).encode())
        return h.hexdigest()


class TextReader(ItemReader):
    """CIF files: the item is the file's text."""

    def decode(self, src: Any, path: Path) -> str:
        raw = src if isinstance(src, io.BytesIO) else io.BytesIO(_read_bytes(path))
        return io.TextIOWrapper(raw, encoding="utf-8", errors="replace").read()  # as read_text()

    def check(self, data: Any, path: Path) -> str:
        return data
