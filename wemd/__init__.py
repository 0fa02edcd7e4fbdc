"""wemd: the Warwick Electron Microscopy Datasets, one call away.

>>> import wemd
>>> ds = wemd.load("stem_crops", split="test")      # doctest: +SKIP
"""

from wemd.api import datasets, load, register_source
from wemd.catalog import CATALOG, DatasetSpec, get as spec
from wemd.dataset import WEMDDataset
from wemd.errors import (CorruptFileError, CountMismatchError, DataMissingError, LayoutError,
                         ManifestError, MissingExtraError, UnknownDatasetError, UnknownSplitError,
                         WEMDError)
from wemd.home import data_home, dataset_dir
from wemd.frames import catalog_frame  # pandas imports on first call
from wemd.item_stats import stats  # per-item statistics and quality flags

__version__ = "0.1.0"


def to_hf(name: str, split: "str | None" = None, root=None, source: str = "local", **kwargs):
    """A ``datasets.DatasetDict`` of ``name`` with exact Features (needs ``wemd[hf]``; see wemd.export)."""
    from wemd.export.hf import to_hf as _to_hf

    return _to_hf(name, split, root=root, source=source, **kwargs)


__all__ = [
    "CATALOG", "CorruptFileError", "catalog_frame", "stats", "CountMismatchError", "DataMissingError", "DatasetSpec",
    "LayoutError", "ManifestError", "MissingExtraError", "UnknownDatasetError", "UnknownSplitError",
    "WEMDDataset", "WEMDError", "data_home", "dataset_dir", "datasets", "load", "register_source",
    "spec", "to_hf", "__version__",
]
