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

__version__ = "0.1.0"

__all__ = [
    "CATALOG", "CorruptFileError", "CountMismatchError", "DataMissingError", "DatasetSpec",
    "LayoutError", "ManifestError", "MissingExtraError", "UnknownDatasetError", "UnknownSplitError",
    "WEMDDataset", "WEMDError", "data_home", "dataset_dir", "datasets", "load", "register_source",
    "spec", "__version__",
]
