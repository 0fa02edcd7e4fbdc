"""``wemd.load(name, split, source="hf", repo=...)``: a wemd export on the Hub or on disk.

Importing this module registers the ``"hf"`` source. Items decode to exactly the native arrays
through the dataset's encoding (``wemd.export.encoding``), and a decoded item of a shape the catalog
does not give is refused, naming the row. Item ids come from the export and ``fingerprint()`` equals
the native loader's for the same data, but no digest is taken on trust: each is checked against the
sha256 of the decoded row (see ``HFSource.get_with_digest``). The card's provenance must be the
provenance every row states.
"""

from __future__ import annotations

import bisect
import hashlib
from pathlib import Path
from typing import Any, Optional

import numpy as np

from wemd import catalog
from wemd.api import dataset_from_index, register_source
from wemd.cards import hf_split
from wemd.catalog import DatasetSpec
from wemd.dataset import WEMDDataset
from wemd.errors import CorruptFileError, DataMissingError, WEMDError, require
from wemd.export.encoding import encoding_for
from wemd.export.hf import CARD, export_info
from wemd.home import PathLike
from wemd.loaders.layouts import SplitIndex, digest_is_data
from wemd.loaders.sources import Source, WrongItemError, data_digest, item_problem


class HFSource(Source):
    """Rows of one split of a ``datasets.Dataset`` (memory-mapped Arrow), decoded to native items."""

    def __init__(self, spec: DatasetSpec, table: Any, where: Path, split: str):
        self.spec, self.table = spec, table
        self.where, self.split = where, split  # the export, for messages naming a row
        self.digest_is_data = digest_is_data(spec)
        self.encoding = encoding_for(spec)
        self.col = self.encoding.column
        self.arrays = self.encoding.stored_shape is not None
        self.item_shape = tuple(spec.item_shape) if spec.item_shape else None
        self.dtype = None if spec.dtype == "str" else np.dtype(spec.dtype)
        self._columns: dict[str, list] = {}
        self._views: Optional[list[np.ndarray]] = None
        self._starts: Optional[list[int]] = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_views"] = state["_starts"] = None  # memory maps reopen in each worker
        return state

    def _column(self, name: str) -> list:
        if name not in self._columns:
            self._columns[name] = self.table.data.column(name).to_pylist()
        return self._columns[name]

    def _chunks(self) -> list[np.ndarray]:
        """Zero-copy [rows, *shape] float32 views of the Arrow chunks of the array column.

        Going through ``datasets`` formatting costs about a millisecond per row; the views make
        ``ds[i]`` as cheap as a memory-mapped .npy row.
        """
        if self._views is None:
            shape = self.encoding.stored_shape
            views = []
            for chunk in self.table.data.column(self.col).chunks:
                flat = chunk.storage
                while hasattr(flat, "flatten"):
                    flat = flat.flatten()
                views.append(flat.to_numpy(zero_copy_only=True).reshape((len(chunk),) + shape))
            self._starts = np.cumsum([0] + [len(v) for v in views]).tolist()
            self._views = views
        return self._views

    def _rows(self, start: int, stop: int) -> np.ndarray:
        """Float32 rows [start, stop), copied out of the Arrow buffers."""
        views = self._chunks()
        k = bisect.bisect_right(self._starts, start) - 1
        parts = []
        while start < stop:
            a = start - int(self._starts[k])
            take = min(stop - start, len(views[k]) - a)
            parts.append(views[k][a:a + take])
            start, k = start + take, k + 1
        return np.concatenate(parts) if len(parts) > 1 else np.array(parts[0])

    def __len__(self) -> int:
        return len(self.table)

    def row(self, i: int) -> str:
        """How messages name row ``i``."""
        return f"{self.split} row {i} ({self.item_id(i)})"

    def get(self, i: int) -> Any:
        if self.arrays:
            views = self._chunks()
            k = bisect.bisect_right(self._starts, i) - 1
            return self.encoding.decode({self.col: np.array(views[k][i - self._starts[k]])})
        try:
            item = self.encoding.decode(self.table[i])
        except (ValueError, TypeError) as exc:  # e.g. a shape column that does not fit the bytes
            raise CorruptFileError(self.where, f"{self.row(i)}: undecodable ({exc})") from exc
        problem = None if self.dtype is None else item_problem(item, self.item_shape, self.dtype)
        if problem:
            raise WrongItemError(self.where, f"{self.row(i)}: {problem}")
        return item

    def get_many(self, idx: np.ndarray) -> Any:
        if not self.arrays or not len(idx):
            return super().get_many(idx)
        idx = np.asarray(idx, dtype=np.int64)
        if np.all(np.diff(idx) == 1):
            rows = self._rows(int(idx[0]), int(idx[-1]) + 1)
        else:
            rows = np.stack([self._rows(int(i), int(i) + 1)[0] for i in idx])
        return self.encoding.decode({self.col: rows})

    def item_id(self, i: int) -> str:
        return self._column("id")[i]

    def digest(self, i: int) -> str:
        return self.get_with_digest(i)[1]

    def get_with_digest(self, i: int) -> tuple[Any, str]:
        """The item and its native digest, checked against the sha256 of the decoded row.

        Where the native digest is that of the item itself (array rows), it is recomputed here, so
        any edit changes the fingerprint. Elsewhere it is the digest of a file (TIFF, .npy, a
        series folder) whose bytes the pixels do not determine: the row's ``data_sha256`` must
        then match the decoded item, and the stored file digest is used.
        """
        item = self.get(i)
        data = data_digest(item)
        column = "sha256" if self.digest_is_data else "data_sha256"
        if data != self._column(column)[i]:
            raise CorruptFileError(self.where, f"{self.row(i)}: the sha256 of the decoded item "
                                   f"differs from the row's {column!r}, so the row was edited or "
                                   f"damaged; export {self.spec.name} again")
        return item, data if self.digest_is_data else self._column("sha256")[i]

    def metadata(self, i: int) -> dict[str, Any]:
        row = {c: self._column(c)[i] for c in self.encoding.meta_columns}
        try:
            meta = self.encoding.metadata(row)
        except ValueError as exc:
            raise CorruptFileError(self.where, f"{self.row(i)}: {exc}") from exc
        return {"id": self.item_id(i), **meta}

    def files(self) -> list[Path]:
        return [Path(f["filename"]) for f in self.table.cache_files]


def load_hf(name: str, split: str = "train", root: Optional[PathLike] = None,
            val_fold: Optional[int] = None, repo: Optional[PathLike] = None,
            revision: Optional[str] = None, cache_dir: Optional[PathLike] = None) -> WEMDDataset:
    """One split of a wemd export: ``repo`` is a Hub dataset id (ORG/NAME) or an export folder."""
    datasets = require("datasets", "hf")
    repo = repo if repo is not None else root
    if name not in catalog.CATALOG and repo is not None:  # a curated set: declared by its export
        catalog.declare_exported(name, *export_info(name, repo, revision))
    spec = catalog.get(name)
    split = catalog.canonical_split(spec, split, extra=("all", "unassigned"))
    if repo is None:
        raise WEMDError("source='hf' needs repo='ORG/NAME' (a Hub dataset) or the folder written "
                        f"by `wemd export-hf {name} DIR`.")
    info, where = export_info(name, repo, revision)
    exported = info["splits"]
    whole = split == "all" or val_fold is not None
    wanted = [s for s in spec.splits if s in exported] if whole else [split]
    for s in wanted:
        if s not in exported:
            raise DataMissingError(name, Path(str(repo)), f"The export holds splits "
                                   f"{', '.join(exported)}, not {s!r}; export it with "
                                   f"`wemd export-hf {name} DIR --split {s}`.")
    sources: dict[str, Source] = {}
    at = Path(str(repo)) / name
    if cache_dir is None and Path(str(repo)).expanduser().is_dir():
        cache_dir = _folder_cache(datasets, Path(str(repo)).expanduser(), name)
    for s in wanted:
        table = datasets.load_dataset(str(repo), name, split=hf_split(s), revision=revision,
                                      cache_dir=str(cache_dir) if cache_dir else None)
        if len(table) != exported[s]["num_examples"]:
            raise CorruptFileError(at, f"split {s} has {len(table)} rows, the "
                                   f"card says {exported[s]['num_examples']}")
        sources[s] = HFSource(spec, table, at, s)
        _check_provenance(sources[s], info["provenance"])
    return dataset_from_index(spec, split, Path(where), SplitIndex(sources, []),
                              info["provenance"], None, val_fold)


def _folder_cache(datasets: Any, folder: Path, name: str) -> Path:
    """A datasets cache of its own for one state of a local export folder.

    datasets keys the cache of a local folder by the folder's name only, so a second export into
    another folder of the same name was served the first one's rows. The key here is the folder's
    absolute path and the path, size and mtime of every file of the export and its card.
    """
    key = hashlib.sha256(str(folder.resolve()).encode())
    for path in sorted([folder / CARD, *(folder / name).rglob("*")]):
        if path.is_file():
            stat = path.stat()
            key.update(f"\0{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return Path(datasets.config.HF_DATASETS_CACHE) / "wemd-exports" / key.hexdigest()[:32]


def _check_provenance(src: HFSource, card: str) -> None:
    """Refuse an export whose rows state another provenance than its card.

    Refusing (rather than believing either side) is the only rule under which neither an edited
    card nor edited rows can make subset, synthetic or simulated data load as real.
    """
    rows = set(src._column("provenance"))
    if rows != {card}:
        raise CorruptFileError(src.where, f"the card says provenance {card!r} but the rows of split "
                               f"{src.split} say {', '.join(map(repr, sorted(rows, key=str)))}; the "
                               "export was edited or damaged: export it again")


register_source("hf", load_hf)
