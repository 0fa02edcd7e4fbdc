"""The catalog: the single source of truth for every WEMD dataset and variant.

Counts, splits, item shapes, dtypes, accepted on-disk layouts, provenance and known
discrepancies live here and nowhere else. Loaders, ``wemd verify``, the data cards and the
exports all read this table.

Besides the published datasets, the catalog accepts datasets a lab curated from its own files
(``wemd curate``): their folder's ``wemd.json`` (provenance ``curated``) carries a ``spec`` block,
read by :func:`get` from the data home or ``root`` and checked like any input, so no code
changes when a lab adds one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from wemd.errors import UnknownDatasetError, UnknownSplitError, close_matches
from wemd.journals import journal_key

#: Bumped whenever any split membership below changes; part of every fingerprint.
CATALOG_VERSION = "1"

SPLIT_ORDER = ("train", "val", "test")
#: Names accepted for a split, on disk and in calls.
SPLIT_ALIASES = {"validation": "val", "valid": "val", "training": "train", "testing": "test"}

WEMD_PAPER = {
    "title": "Warwick electron microscopy datasets",
    "authors": "Jeffrey M. Ede",
    "journal": "Machine Learning: Science and Technology 1, 045003",
    "year": 2020,
    "doi": "10.1088/2632-2153/ab9c3c",
}
EXIT_WAVE_PAPER = {
    "title": "Exit wavefunction reconstruction from single transmission electron micrographs "
    "with deep learning",
    "authors": "Jeffrey M. Ede, Jonathan J. P. Peters, Jeremy Sloan, Richard Beanland",
    "journal": "thesis chapter 7 (J. M. Ede, PhD thesis, University of Warwick, 2021)",
    "year": 2021,
    "doi": None,
}
DATA_DOI = "10.5281/zenodo.3834197"
LANDING_PAGE = (
    "https://warwick.ac.uk/fac/sci/physics/research/condensedmatt/microscopy/research/machinelearning"
)
LICENSE = "cc-by-4.0"

#: CIF partition by journal (thesis ch. 2 and 7). Matched in any spelling ("Inorg. Chem." is
#: "Inorganic Chemistry") through :data:`JOURNAL_TABLE`.
JOURNAL_SPLITS = {
    "new journal of chemistry": "train",
    "american mineralogist": "train",
    "journal of the american chemical society": "train",
    "inorganic chemistry": "train",
    "physics and chemistry of materials": "val",
    "physics and chemistry of minerals": "val",
    "chemistry of materials": "test",
}


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the package knows about one dataset or variant."""

    name: str
    family: str  # stem | tem | wavefunctions | focal_series | cifs
    description: str
    splits: dict[str, int]  # in partition order; counts as published
    item_shape: Optional[tuple[int, ...]]  # None: varied
    dtype: str
    layouts: tuple[str, ...]  # accepted on-disk layouts, see wemd.loaders.layouts
    partition: str  # how splits are formed: contiguous | subfolders | journal | none
    paper: dict = field(default_factory=lambda: WEMD_PAPER)
    derived_from: Optional[str] = None
    physics: Optional[str] = None
    #: totals that are accepted besides sum(splits) because a paper states them
    accepted_totals: tuple[int, ...] = ()
    discrepancies: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    approx_size: str = ""
    #: the folder whose manifest declared a curated dataset; None for the published datasets
    declared_at: Optional[str] = None

    @property
    def total(self) -> int:
        return sum(self.splits.values())

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(self.splits)

    def split_range(self, split: str, counts: Optional[dict[str, int]] = None) -> tuple[int, int]:
        """Contiguous [start, stop) of a split, in train, val, test order."""
        counts = counts or self.splits
        start = 0
        for name, n in counts.items():
            if name == split:
                return start, start + n
            start += n
        raise UnknownSplitError(self.name, split, tuple(counts))


def _stem(name: str, description: str, splits: dict[str, int], shape, layouts, **kw) -> DatasetSpec:
    return DatasetSpec(name=name, family="stem", description=description, splits=splits,
                       item_shape=shape, dtype="float32", layouts=layouts, **kw)


_STEM_SPLITS = {"train": 14826, "val": 1977, "test": 2966}
_TEM_SPLITS = {"train": 11350, "val": 2431, "test": 3486}

_SIM_NOTE = (
    "The original generation script wrote voltage, aperture, delta and alpha as bare numbers where "
    "clTEM expects {\"val\": ...}; clTEM kept its defaults, so the published exit waves were most "
    "likely all simulated at 200 kV whatever the metadata says."
)


def _wave(name: str, description: str, splits: dict[str, int], physics: str, **kw) -> DatasetSpec:
    return DatasetSpec(name=name, family="wavefunctions", description=description, splits=splits,
                       item_shape=(320, 320), dtype="complex64", layouts=("wavefunction_dir",),
                       partition="subfolders", paper=EXIT_WAVE_PAPER, physics=physics,
                       discrepancies=kw.pop("discrepancies", ()) + (_SIM_NOTE,), **kw)


def _wave96(name: str, description: str, splits: dict[str, int], parent: str, **kw) -> DatasetSpec:
    return DatasetSpec(name=name, family="wavefunctions", description=description, splits=splits,
                       item_shape=(96, 96, 2), dtype="float32", layouts=("npy_array",),
                       partition="contiguous", paper=EXIT_WAVE_PAPER, physics="kirkland_n3",
                       derived_from=parent,
                       notes=("[..., 0] is the real part, [..., 1] the imaginary part; scikit-image "
                              "bilinear resize with antialiasing from 320x320.",), **kw)


_SPECS = [
    _stem("stem_full", "19769 experimental STEM images at original size and intensity (JEOL ARM 200F)",
          _STEM_SPLITS, None, ("tiff_dir",), partition="contiguous",
          notes=("About two thirds show atom columns; about 50 blank, incomplete-scan and noise-only "
                 "images are deliberately kept.",), approx_size="~60 GB"),
    _stem("stem_crops", "161069 non-overlapping 512x512 crops of the experimental STEM images",
          {"train": 110933, "val": 21259, "test": 28877}, (512, 512), ("tiff_dir",),
          partition="contiguous", derived_from="stem_full", approx_size="~170 GB"),
    _stem("stem_96x96", "Experimental STEM: top-left square box-resized to 96x96", _STEM_SPLITS,
          (96, 96, 1), ("npy_array",), partition="contiguous", derived_from="stem_full",
          approx_size="0.7 GB"),
    _stem("stem_crops_96x96", "One 96x96 crop of each experimental STEM image", _STEM_SPLITS,
          (96, 96, 1), ("npy_array",), partition="contiguous", derived_from="stem_full",
          approx_size="0.7 GB"),
    DatasetSpec(
        name="tem_full", family="tem",
        description="Experimental TEM images, largest square area-resized to 2048x2048, min-max scaled",
        splits=_TEM_SPLITS, item_shape=(2048, 2048), dtype="float32", layouts=("tiff_dir",),
        partition="contiguous", accepted_totals=(17266,),
        discrepancies=("The paper states 17266 images but its split counts sum to 17267; a copy "
                       "with 17266 items is accepted and its test split reported one short.",),
        notes=("Only images with at least 2500 counts per pixel were kept.",), approx_size="~270 GB"),
    DatasetSpec(
        name="tem_96x96", family="tem", description="Experimental TEM images area-downsampled to 96x96",
        splits=_TEM_SPLITS, item_shape=(96, 96, 1), dtype="float32", layouts=("npy_array",),
        partition="contiguous", derived_from="tem_full", accepted_totals=(17266,),
        discrepancies=("The published array is [17266, 96, 96, 1] while the split counts sum to "
                       "17267; with 17266 rows the test split has 3485 items.",), approx_size="0.6 GB"),
    _wave("wavefunctions", "Simulated CTEM exit wavefunctions, Kirkland n = 3, multiple materials",
          {"train": 24530, "val": 3399, "test": 8395}, "kirkland_n3", approx_size="~30 GB"),
    _wave("wavefunctions_unseen", "Exit wavefunctions of training-set CIFs with new hyperparameters "
          "(n = 3)", {"val": 1544}, "kirkland_n3",
          notes=("An extra validation set for unseen simulation hyperparameters.",)),
    _wave("wavefunctions_restricted", "Exit wavefunctions with hyperparameter ranges cut to ~1/4 (n = 3)",
          {"train": 8002, "val": 1105, "test": 2763}, "kirkland_n3"),
    _wave("wavefunctions_single", "Exit wavefunctions of one material, In1.7K2Se8Sn2.28 (n = 3)",
          {"train": 3861, "val": 964}, "kirkland_n3"),
    _wave("wavefunctions_n1", "Exit wavefunctions with n = 1 'alternate universe' potentials",
          {"train": 25325, "val": 3569, "test": 8563}, "kirkland_n1",
          discrepancies=("Chapter 2 gives 25352 training items; 25325 is consistent with the total "
                         "of 37457 and is used here.",)),
    _wave("wavefunctions_n1_unseen", "n = 1 exit wavefunctions of training-set CIFs, new "
          "hyperparameters", {"val": 1501}, "kirkland_n1"),
    _wave("wavefunctions_n1_single", "n = 1 exit wavefunctions of one material",
          {"train": 3856, "val": 963}, "kirkland_n1"),
    _wave96("wavefunctions_96x96", "Exit wavefunctions (n = 3) resized to 96x96, real and imaginary "
            "channels", {"train": 24530, "val": 3399, "test": 8395}, "wavefunctions"),
    _wave96("wavefunctions_96x96_restricted", "Restricted exit wavefunctions resized to 96x96",
            {"train": 8002, "val": 1105, "test": 2763}, "wavefunctions_restricted"),
    _wave96("wavefunctions_96x96_single", "Single-material exit wavefunctions resized to 96x96",
            {"train": 3861, "val": 964}, "wavefunctions_single",
            discrepancies=("The paper text gives 11870 items by a typo; the array holds 4825.",)),
    DatasetSpec(
        name="focal_series", family="focal_series",
        description="1000 experimental focal series of 14 TEM images with quadratic defocus steps",
        splits={"all": 1000}, item_shape=(14, 512, 512), dtype="float32", layouts=("series_dir",),
        partition="none",
        notes=("Area-downsampled from 4096x4096; spatial scales vary; no partition and no "
               "benchmark task.",)),
    DatasetSpec(
        name="cifs", family="cifs",
        description="12789 hydrogen-free COD crystal structures (P1) behind the exit wavefunctions",
        splits={"train": 150 + 1034 + 1998 + 5457, "val": 1216, "test": 2927}, item_shape=None,
        dtype="str", layouts=("cif_dir",), partition="journal", paper=EXIT_WAVE_PAPER,
        accepted_totals=(12789,),
        discrepancies=("The journal partition counts sum to 12782, not the stated 12789; CIFs from "
                       "other journals are listed under split 'unassigned'.",
                       "The paper names the validation journal 'Physics and Chemistry of Materials'; "
                       "the authors' scripts call it 'Physics and Chemistry of Minerals'. Both map "
                       "to val.",),
        notes=("Train: New J. Chem. (150), Am. Mineral. (1034), JACS (1998), Inorg. Chem. (5457); "
               "val: Phys. Chem. Minerals (1216); test: Chem. Mater. (2927).",)),
]

CATALOG: dict[str, DatasetSpec] = {s.name: s for s in _SPECS}


#: curated datasets found on disk in this process, by name
_DECLARED: dict[str, DatasetSpec] = {}
#: what a curated dataset's manifest may declare
DECLARED_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DECLARED_FAMILIES = ("stem", "tem")
DECLARED_LAYOUTS = ("tiff_dir", "npy_array")
MAX_DECLARED_SIDE = 1 << 16


def get(name: str, root: Optional[Any] = None) -> DatasetSpec:
    """The spec of a dataset, or an error listing the closest names.

    A name outside the published catalog is looked up as a curated dataset declared by the
    manifest of its folder in ``root`` (or the data home); once found, it is known to later calls
    in this process without ``root``.
    """
    if name in CATALOG:
        return CATALOG[name]
    spec = _find_declared(name, root) if isinstance(name, str) and DECLARED_NAME.match(name) else None
    if spec is None:
        names = list(CATALOG) + sorted(_DECLARED)
        raise UnknownDatasetError(name, close_matches(name, names), tuple(names))
    return spec


def _find_declared(name: str, root: Optional[Any]) -> Optional[DatasetSpec]:
    from wemd.home import dataset_dir
    from wemd.manifest import MANIFEST_NAME, read_manifest

    folder = dataset_dir(name, root)
    if (folder / MANIFEST_NAME).is_file():
        manifest = read_manifest(folder)
        if manifest is not None and manifest.dataset == name and manifest.provenance == "curated":
            _DECLARED[name] = declared_spec(manifest, folder)
    return _DECLARED.get(name)


def declared_in(root: Optional[Any] = None) -> tuple[list[DatasetSpec], list[str]]:
    """The curated datasets whose folders are in the data home ``root`` (by name), and one line
    per folder that looks curated but whose manifest is unusable (what is wrong with it)."""
    from wemd.errors import WEMDError
    from wemd.home import data_home
    from wemd.manifest import MANIFEST_NAME

    home = data_home(root)
    found, bad = [], []
    folders = sorted(p for p in home.iterdir() if p.is_dir()) if home.is_dir() else []
    for folder in folders:
        if not (DECLARED_NAME.match(folder.name) and (folder / MANIFEST_NAME).is_file()):
            continue
        try:
            spec = _find_declared(folder.name, home)
        except WEMDError as exc:
            bad.append(f"{folder.name}: {exc}")
            continue
        if spec is not None and spec.declared_at == str(folder):
            found.append(spec)
    return found, bad


def declared_spec(manifest: Any, folder: Any) -> DatasetSpec:
    """The catalog entry a curated dataset's manifest declares, checked field by field (the
    manifest is input like any other: a bad entry is a ManifestError naming the field)."""
    return _checked_spec(manifest.dataset, manifest.spec, manifest.splits,
                         manifest.description, f"{folder}/wemd.json", str(folder))


def declare(manifest: Any, where: Any) -> DatasetSpec:
    """Declare a curated dataset from a manifest found elsewhere than its folder (the copy a
    zarr/HDF5 store carries), checked like the folder's own; later calls know it by name."""
    _DECLARED[manifest.dataset] = declared_spec(manifest, where)
    return _DECLARED[manifest.dataset]


def declaration(spec: DatasetSpec) -> dict[str, Any]:
    """What a curated dataset's export carries so that another process can declare it."""
    return {"family": spec.family, "description": spec.description, "splits": dict(spec.splits),
            "item_shape": list(spec.item_shape) if spec.item_shape else None, "dtype": spec.dtype,
            "layouts": list(spec.layouts), "partition": spec.partition,
            "derived_from": spec.derived_from, "notes": list(spec.notes)}


def declare_exported(name: str, entry: dict[str, Any], where: Any) -> DatasetSpec:
    """Declare a curated dataset from its HF export's card entry (``wemd_exports``), for
    ``source="hf"`` in a process that never saw its folder; checked like a manifest."""
    from wemd.errors import ManifestError

    raw = (entry.get("dataset") or {}).get("curated") if isinstance(entry.get("dataset"), dict) else None
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: the export of {name!r} declares no curated dataset (no "
                            f"dataset.curated block); re-export it with `wemd export-hf {name} DIR "
                            "--root HOME`.")
    _DECLARED[name] = _checked_spec(name, raw, raw.get("splits"), None, f"{where}/README.md", str(where))
    return _DECLARED[name]


def _checked_spec(dataset: str, raw: Any, splits: Any, description: Optional[str], where: str,
                  declared_at: Optional[str]) -> DatasetSpec:
    from wemd.errors import ManifestError

    def bad(key: str, want: str) -> ManifestError:
        return ManifestError(f"{where}: spec.{key} must be {want}; rerun `wemd curate` to rewrite it.")

    if not isinstance(raw, dict):
        raise bad("", "an object")
    if not isinstance(dataset, str) or not DECLARED_NAME.match(dataset) or dataset in CATALOG:
        raise ManifestError(f"{where}: {dataset!r} cannot name a curated dataset (lower-case "
                            "letters, digits and '_', not a published dataset's name).")
    if raw.get("family") not in DECLARED_FAMILIES:
        raise bad("family", f"one of {DECLARED_FAMILIES}")
    shape = raw.get("item_shape")
    if shape is not None and not (isinstance(shape, list) and len(shape) in (2, 3) and all(
            isinstance(n, int) and not isinstance(n, bool) and 0 < n <= MAX_DECLARED_SIDE for n in shape)):
        raise bad("item_shape", "null or a list of 2 or 3 positive sizes")
    layouts = raw.get("layouts")
    if not (isinstance(layouts, list) and layouts and all(x in DECLARED_LAYOUTS for x in layouts)):
        raise bad("layouts", f"a list drawn from {DECLARED_LAYOUTS}")
    if raw.get("dtype") != "float32" or raw.get("partition") != "contiguous":
        raise bad("dtype / partition", "'float32' / 'contiguous'")
    derived = raw.get("derived_from")
    if derived is not None and not (isinstance(derived, str) and DECLARED_NAME.match(derived)):
        raise bad("derived_from", "null or a dataset name")
    notes = raw.get("notes", [])
    if not (isinstance(notes, list) and all(isinstance(n, str) and len(n) < 2000 for n in notes)):
        raise bad("notes", "a list of short texts")
    splits = splits or {}
    if not (isinstance(splits, dict) and splits and not set(splits) - set(SPLIT_ORDER) and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in splits.values())):
        raise ManifestError(f"{where}: a curated dataset needs 'splits' counts for train, val, test.")
    description = str(raw.get("description") or description or dataset)[:300]
    return DatasetSpec(name=dataset, family=raw["family"], description=description,
                       splits=dict(splits), item_shape=tuple(shape) if shape else None,
                       dtype="float32", layouts=tuple(layouts), partition="contiguous",
                       derived_from=derived, notes=tuple(notes), declared_at=declared_at)


def datasets() -> dict[str, str]:
    """Every dataset name with its one-line description."""
    return {s.name: s.description for s in _SPECS}


def split_rank(split: str) -> tuple[int, str]:
    """Sort key that puts splits in partition order (train, val, test), any others after."""
    return (SPLIT_ORDER.index(split), "") if split in SPLIT_ORDER else (len(SPLIT_ORDER), split)


def canonical_split(spec: DatasetSpec, split: str, extra: tuple[str, ...] = ()) -> str:
    """Map a split name or alias to the catalog's name, or raise listing the valid ones."""
    name = SPLIT_ALIASES.get(split.lower(), split.lower())
    valid = spec.split_names + extra
    if name not in valid:
        raise UnknownSplitError(spec.name, split, valid)
    return name


#: :data:`JOURNAL_SPLITS` keyed by :func:`wemd.journals.journal_key`, the one rule for journal
#: names (``wemd simulate`` uses this table too).
JOURNAL_TABLE = {journal_key(j): s for j, s in JOURNAL_SPLITS.items()}


def journal_split(journal: Optional[str]) -> str:
    """The partition of a CIF by its journal name in any spelling ("Inorg. Chem.", "Inorganic
    Chemistry"); 'unassigned' for other journals and for none."""
    return JOURNAL_TABLE.get(journal_key(journal), "unassigned")
