"""``wemd.load(name, split, source="hf", repo=...)``: a wemd export on the Hub or on disk.

Importing this module registers the ``"hf"`` source. Items decode to exactly the native arrays
(see ``wemd.hf`` for the encoding); item ids, content digests and provenance come from the
export, so ``fingerprint()`` equals the native loader's for the same data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from wemd import catalog
from wemd.api import dataset_from_index, register_source
from wemd.catalog import DatasetSpec
from wemd.dataset import WEMDDataset
from wemd.errors import CorruptFileError, DataMissingError, WEMDError, require
from wemd.hf import data_column, decode_item, encoding, export_info, row_meta
from wemd.home import PathLike
from wemd.loaders.layouts import SplitIndex
from wemd.loaders.sources import Source


class HFSource(Source):
    """Rows of one split of a ``datasets.Dataset`` (memory-mapped Arrow), decoded to native items."""

    def __init__(self, spec: DatasetSpec, table: Any):
        self.spec, self.table = spec, table
        self.col = data_column(spec)
        arrays = encoding(spec) in ("array", "complex")
        self._np = table.with_format("numpy", columns=[self.col]) if arrays else None
        self.item_shape = tuple(spec.item_shape) if spec.item_shape else None
        self.dtype = None if spec.dtype == "str" else np.dtype(spec.dtype)
        self._columns: dict[str, list] = {}

    def _column(self, name: str) -> list:
        if name not in self._columns:
            self._columns[name] = self.table.data.column(name).to_pylist()
        return self._columns[name]

    def __len__(self) -> int:
        return len(self.table)

    def get(self, i: int) -> Any:
        row = self._np[i] if self._np is not None else self.table[i]
        return decode_item(self.spec, row)

    def get_many(self, idx: np.ndarray) -> Any:
        if self._np is None or not len(idx):
            return super().get_many(idx)
        idx = np.asarray(idx, dtype=np.int64)
        contiguous = bool(np.all(np.diff(idx) == 1))
        rows = self._np[int(idx[0]): int(idx[-1]) + 1] if contiguous else self._np[idx.tolist()]
        return decode_item(self.spec, rows)

    def item_id(self, i: int) -> str:
        return self._column("id")[i]

    def digest(self, i: int, known: Optional[dict[str, dict]] = None) -> str:
        return self._column("sha256")[i]

    def metadata(self, i: int) -> dict[str, Any]:
        meta: dict[str, Any] = {"id": self.item_id(i)}
        if "meta" in self.table.column_names:
            meta.update(row_meta({"meta": self._column("meta")[i]}))
        for key in ("cod_id", "journal", "url"):
            if key in self.table.column_names:
                meta[key] = self._column(key)[i]
        return meta

    def files(self) -> list[Path]:
        return [Path(f["filename"]) for f in self.table.cache_files]


def load_hf(name: str, split: str = "train", root: Optional[PathLike] = None,
            val_fold: Optional[int] = None, repo: Optional[PathLike] = None,
            revision: Optional[str] = None, cache_dir: Optional[PathLike] = None) -> WEMDDataset:
    """One split of a wemd export: ``repo`` is a Hub dataset id (ORG/NAME) or an export folder."""
    datasets = require("datasets", "hf")
    spec = catalog.get(name)
    split = catalog.canonical_split(spec, split, extra=("all", "unassigned"))
    repo = repo if repo is not None else root
    if repo is None:
        raise WEMDError("source='hf' needs repo='ORG/NAME' (a Hub dataset) or the folder written "
                        f"by `wemd export-hf {name} DIR`.")
    info, where = export_info(name, repo, revision)
    exported = info["splits"]
    wanted = list(exported) if split == "all" or val_fold is not None else [split]
    for s in wanted:
        if s not in exported:
            raise DataMissingError(name, Path(str(repo)), f"The export holds splits "
                                   f"{', '.join(exported)}, not {s!r}; export it with "
                                   f"`wemd export-hf {name} DIR --split {s}`.")
    sources: dict[str, Source] = {}
    for s in wanted:
        table = datasets.load_dataset(str(repo), name, split=exported[s]["hf_split"],
                                      revision=revision,
                                      cache_dir=str(cache_dir) if cache_dir else None)
        if len(table) != exported[s]["num_examples"]:
            raise CorruptFileError(Path(str(repo)) / name, f"split {s} has {len(table)} rows, the "
                                   f"card says {exported[s]['num_examples']}")
        sources[s] = HFSource(spec, table)
    return dataset_from_index(spec, split, Path(where), SplitIndex(sources, []),
                              info["provenance"], None, val_fold)


register_source("hf", load_hf)
