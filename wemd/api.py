"""``wemd.load``: one call from a dataset name and split to a lazily read, fixed partition."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from wemd import catalog
from wemd.catalog import DatasetSpec
from wemd.dataset import WEMDDataset
from wemd.errors import DataMissingError, ManifestError, UnknownSplitError, WEMDError
from wemd.home import PathLike, data_home, dataset_dir
from wemd.loaders.layouts import SplitIndex, authors_folder, index_folder
from wemd.loaders.sources import ConcatSource, RangeSource, Source
from wemd.manifest import Manifest, read_manifest

#: source name -> function(name, split, root, **kwargs) -> WEMDDataset
SourceLoader = Callable[..., WEMDDataset]
_SOURCES: dict[str, SourceLoader] = {}


def register_source(name: str, loader: SourceLoader) -> None:
    """Make ``wemd.load(..., source=name)`` call ``loader`` (used by the synthetic and HF sources)."""
    _SOURCES[name] = loader


def datasets() -> dict[str, str]:
    """Every dataset name with a one-line description."""
    return catalog.datasets()


def missing_data_hint(name: str) -> str:
    spec = catalog.get(name)
    return (f"Place the files there in one of the layouts {', '.join(spec.layouts)} (see "
            f"`wemd info {name}`), set WEMD_HOME or pass root= (--root), fetch them with `wemd "
            f"download {name}`, or try the package on the generated stand-in with "
            "source='synthetic' (--source synthetic).")


def open_folder(name: str, root: Optional[PathLike] = None, *, published: Optional[bool] = None
                ) -> tuple[Path, Optional[Manifest], SplitIndex]:
    """Locate a dataset folder, read its manifest and index its splits.

    ``published``: read items as the published data (exactly the catalog's shapes); default:
    unless the manifest declares another provenance. ``wemd verify`` always checks them so.
    """
    spec = catalog.get(name, root)
    folder = dataset_dir(name, root).absolute()  # a Dask worker elsewhere reads the same files
    if not folder.is_dir() and authors_folder(spec, data_home(root)):
        folder = data_home(root).absolute()  # the authors' arrays side by side (96x96.npy, ...)
    if not folder.is_dir() or not any(folder.iterdir()):
        raise DataMissingError(name, folder, missing_data_hint(name))
    manifest = read_manifest(folder)
    counts = _expected_counts(spec, manifest, folder)
    if published is None:
        published = manifest is None or manifest.provenance == "real"
    return folder, manifest, index_folder(spec, folder, counts, published)


def _expected_counts(spec: DatasetSpec, manifest: Optional[Manifest], folder: Path) -> dict[str, int]:
    if manifest is None:
        return spec.splits
    if manifest.dataset != spec.name:
        raise ManifestError(f"{folder}/wemd.json describes {manifest.dataset!r}, not {spec.name!r}.")
    if manifest.provenance == "real":
        if manifest.splits and manifest.splits != spec.splits:
            raise ManifestError(f"{folder}/wemd.json claims real data with counts {manifest.splits}, "
                                f"but the published counts are {spec.splits}; use provenance "
                                "'subset' for part of the data.")
        return spec.splits
    if not manifest.splits:
        raise ManifestError(f"{folder}/wemd.json has provenance {manifest.provenance!r} but no "
                            "'splits' counts.")
    unknown = set(manifest.splits) - set(spec.splits)
    if unknown:
        raise ManifestError(f"{folder}/wemd.json lists splits {sorted(unknown)} that {spec.name} "
                            f"does not have ({', '.join(spec.splits)}).")
    return {s: manifest.splits[s] for s in spec.splits if s in manifest.splits}


class UnknownSourceError(WEMDError, ValueError):
    """A ``source=`` that names no registered source (or misspells a synthetic build)."""


def split_source(source: str) -> tuple[str, dict[str, Any]]:
    """A source's name and the options its spelling carries.

    ``"synthetic:tiny-3"`` is ``("synthetic", {"scale": "tiny", "seed": 3})``: one synthetic build
    (the folder ``{data home}/synthetic/tiny-3``), so a result record can say which it was scored
    on. Any other spelling is a plain source name without options.
    """
    name, sep, build = source.partition(":")
    if not sep:
        return source, {}
    scale, dash, seed = build.rpartition("-")
    if name != "synthetic" or not (dash and scale and seed.isascii() and seed.isdigit()):
        raise UnknownSourceError(f"Unknown source {source!r}: only a synthetic build is spelled "
                                 "with a colon, as 'synthetic:SCALE-SEED' (e.g. 'synthetic:tiny-0').")
    return name, {"scale": scale, "seed": int(seed)}


def synthetic_source(scale: str, seed: int) -> str:
    """How ``load`` and result records spell one synthetic build: ``"synthetic:tiny-3"``."""
    return f"synthetic:{scale}-{int(seed)}"


def load(name: str, split: str = "train", *, root: Optional[PathLike] = None,
         source: str = "local", val_fold: Optional[int] = None, **kwargs: Any) -> WEMDDataset:
    """Open one split of one dataset.

    ``split`` is a split of the dataset (``train``/``val``/``test``; ``validation`` accepted) or
    ``"all"`` for every split in order. ``source`` is ``"local"`` (files in the data home or
    ``root``), ``"synthetic"`` (the generated stand-in; ``"synthetic:tiny-3"`` is its build of
    scale ``tiny`` and seed 3, as result records name it) or another registered source: ``"hf"``
    (``repo=``), ``"zarr"`` (``url=`` a store folder or any fsspec URL) or ``"hdf5"`` (``url=`` a
    ``.h5`` file), the last two written by ``wemd convert``.
    ``val_fold=k`` moves the validation window over train+val (k = 0 is the published split);
    the test split never moves.
    """
    source, options = split_source(source)
    if source != "local":
        if source not in _SOURCES:
            _import_source_plugins()
        if source not in _SOURCES:
            raise UnknownSourceError(f"Unknown source {source!r}; available: local, "
                                     f"{', '.join(sorted(_SOURCES))}.")
        given = sorted(set(options) & set(kwargs))
        if given:
            raise TypeError(f"{', '.join(given)} given twice: in source= and as an argument.")
        return _SOURCES[source](name, split, root=root, val_fold=val_fold, **options, **kwargs)
    if kwargs:
        raise TypeError(f"unexpected arguments for source='local': {', '.join(kwargs)}")
    spec = catalog.get(name, root)
    extra = ("all", "unassigned") if spec.partition == "journal" else ("all",)
    split = catalog.canonical_split(spec, split, extra=extra)
    folder, manifest, index = open_folder(name, root)
    provenance = manifest.provenance if manifest else "real"
    return dataset_from_index(spec, split, folder, index, provenance, manifest, val_fold)


def dataset_from_index(spec: DatasetSpec, split: str, folder: Path, index: SplitIndex,
                       provenance: str, manifest: Optional[Manifest],
                       val_fold: Optional[int] = None) -> WEMDDataset:
    """Build the dataset object of one split (or a moving validation window) from an index."""
    available = [s for s in index.sources if s in spec.splits]
    window = None
    if val_fold is not None:
        src, window = _moving_window(spec, split, index, val_fold)
    elif split == "all":
        present = [s for s in spec.splits if s in index.sources]
        src = ConcatSource([index.sources[s] for s in present], names=present)
    elif split in index.sources:
        src = index.sources[split]
    else:
        raise DataMissingError(spec.name, folder / split,
                               f"Split {split!r} is not on disk; found {', '.join(available) or 'none'}. "
                               + missing_data_hint(spec.name))
    return WEMDDataset(spec, split, src, folder, provenance, manifest, tuple(index.notes), window)


class FoldSplitError(UnknownSplitError):
    """``val_fold`` with a split it does not move (the test split, or all splits)."""

    def __init__(self, dataset: str, split: str):
        self.split = split
        WEMDError.__init__(self, f"val_fold moves the validation window over train+val only, so "
                                 f"it applies to the 'train' and 'val' splits of {dataset!r}, not "
                                 f"to {split!r}: load {split!r} without val_fold (the test split "
                                 "never moves).")


def _moving_window(spec: DatasetSpec, split: str, index: SplitIndex, k: int) -> tuple[Source, str]:
    """Re-partition train+val: validation is the k-th window of len(val) counted from the end.

    k = 0 reproduces the published split; the test split is never part of it.
    """
    if split not in ("train", "val"):
        raise FoldSplitError(spec.name, split)
    if not {"train", "val"} <= set(index.sources):
        raise DataMissingError(spec.name, Path("train+val"), "A moving validation window needs "
                               "both the train and val splits on disk.")
    both = ConcatSource([index.sources["train"], index.sources["val"]])
    n, n_val = len(both), len(index.sources["val"])
    n_folds = n // n_val if n_val else 0
    if not 0 <= k < n_folds:
        raise ValueError(f"val_fold must be in [0, {n_folds}) for {spec.name} "
                         f"({n} train+val items, windows of {n_val}).")
    stop = n - k * n_val
    start = stop - n_val
    window = f"val_fold={k}/{n_folds}:[{start},{stop})"
    if split == "val":
        return RangeSource(both, start, stop), window
    return ConcatSource([RangeSource(both, 0, start), RangeSource(both, stop, n)]), window


def _import_source_plugins() -> None:
    """Import the modules that register non-local sources (kept lazy: they pull heavy deps)."""
    import importlib

    for module in ("wemd.synthetic", "wemd.loaders.hf", "wemd.stores.zarr_store",
                   "wemd.stores.hdf5_store"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
