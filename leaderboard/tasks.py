"""The task registry: each benchmark task fixes its data, instances, metrics and protocol.

A :class:`Task` names a dataset and split, the preprocessing and randomness that turn items into
test instances, the ground truth, the metrics (with exact parameters) and a protocol version.
Instances stream one at a time: instance ``i`` uses item ``i mod len(items)`` and an RNG seeded
from ``SeedSequence([task.seed, i])``, so any instance can be rebuilt alone on any machine, and
a small split (the synthetic mini data) is cycled through deterministically.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Union

import numpy as np

from wemd import catalog
from wemd.errors import UnknownNameError, WEMDError, close_matches, did_you_mean
from wemd.leaderboard import references as refs
from wemd.leaderboard import scans
from wemd.leaderboard.instances import GENERATORS, Instance
from wemd.leaderboard.metrics import METRICS

#: Bumped when any task's instances or metrics change; results of other versions are rejected.
PROTOCOL_VERSION = "1"


class UnknownTaskError(UnknownNameError):
    def __init__(self, name: str):
        super().__init__(f"Unknown task {name!r}.{did_you_mean(close_matches(name, TASKS))} "
                         "See `wemd tasks` for the list.")


class TaskDatasetMismatchError(WEMDError, ValueError):
    """A dataset object of the wrong dataset or split was given to a task."""


@dataclass
class Task:
    """One benchmark task. ``params`` are the protocol's parameters; changing any of them with
    :meth:`with_params` gives a non-standard variant (allowed for quick tests, flagged on the board)."""

    name: str
    family: str  # key of instances.GENERATORS
    title: str
    dataset: str
    split: str
    params: dict[str, Any]
    metrics: tuple[str, ...]
    primary: str
    inputs: dict[str, str]  # input name -> description
    target: str
    n_default: Optional[int]  # None: one instance per item
    references: tuple[refs.Reference, ...] = ()
    notes: tuple[str, ...] = ()
    subset: Optional[tuple[float, float]] = None  # fraction [a, b) of the split's items used
    clip: Optional[tuple[float, float]] = None  # predictions are clipped to this before metrics
    protocol_version: str = PROTOCOL_VERSION
    standard: bool = True
    _defaults: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self._defaults:
            self._defaults = dict(self.params)
        unknown = set(self.metrics) - set(METRICS)
        if unknown or self.primary not in self.metrics or self.family not in GENERATORS:
            raise ValueError(f"task {self.name}: bad metrics {sorted(unknown)} or family {self.family}")

    @property
    def seed(self) -> int:
        """The task's base seed: fixed by its name, identical on every machine."""
        return int(hashlib.sha256(f"wemd-task/{self.name}".encode()).hexdigest()[:8], 16)

    @property
    def lower_is_better(self) -> bool:
        return METRICS[self.primary][1]

    def with_params(self, **overrides: Any) -> "Task":
        """A copy with some protocol parameters changed (e.g. ``crop=64`` for a quick test)."""
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise ValueError(f"task {self.name} has no parameters {sorted(unknown)}; "
                             f"it has {sorted(self.params)}.")
        task = copy.copy(self)
        task.params = {**self.params, **overrides}
        task.standard = task.params == self._defaults
        return task

    def fit_to(self, ds: Any) -> "Task":
        """This task, or a non-standard variant with a smaller crop when the data's items are
        smaller than the protocol's (e.g. a small synthetic stand-in); the low-res size scales."""
        if "crop" not in self.params:
            return self
        self._check(ds)
        side = min(np.shape(ds[int(self.item_positions(ds)[0])])[:2])
        fits = side // 2 if self.family == "tem_denoise" else side
        if fits >= self.params["crop"]:
            return self
        extra = {}
        if "low_res" in self.params:
            extra["low_res"] = max(2, round(fits * self._defaults["low_res"] / self._defaults["crop"]))
        return self.with_params(crop=int(fits), **extra)

    # -- data ---------------------------------------------------------------------------------
    def open(self, source: str = "local", root: Any = None) -> Any:
        """Load the task's dataset split (``source="synthetic"`` for the generated stand-in)."""
        import wemd

        return wemd.load(self.dataset, self.split, source=source, root=root)

    def on_dataset(self, name: str) -> "Task":
        """This task, same protocol, on a dataset curated from a lab's files (``wemd curate``;
        spelled ``TASK@DATASET`` on the command line). Its family is checked when it is opened;
        records carry that dataset's fingerprint and provenance (``curated``)."""
        if not catalog.DECLARED_NAME.match(name) or name in catalog.CATALOG:
            raise TaskDatasetMismatchError(f"{name!r} is not a curated dataset name; a task runs on "
                                           f"its own dataset ({self.dataset}) or on one made by "
                                           "`wemd curate`.")
        task = copy.copy(self)
        task.dataset = name
        return task

    def _check(self, ds: Any) -> None:
        family = catalog.get(TASKS[self.name].dataset).family if self.name in TASKS else ds.spec.family
        if ds.spec.family != family:
            raise TaskDatasetMismatchError(f"Task {self.name} needs {family.upper()} images; "
                                           f"{ds.name} holds {ds.spec.family.upper()} images.")
        if ds.name != self.dataset or ds.split != self.split:
            raise TaskDatasetMismatchError(
                f"Task {self.name} needs {self.dataset}/{self.split}, got {ds.name}/{ds.split}; "
                f"open it with task.open(source=..., root=...).")
        if len(ds) == 0:
            raise TaskDatasetMismatchError(f"{ds.name}/{ds.split} is empty.")

    def item_positions(self, ds: Any) -> np.ndarray:
        """Positions in the split of the items the task draws from, in order."""
        n = len(ds)
        if self.subset is None:
            return np.arange(n)
        a, b = (int(math.floor(f * n)) for f in self.subset)
        return np.arange(a, b)

    def n_instances(self, ds: Any, n: Optional[int] = None) -> int:
        """The number of instances: ``n`` if given, else the paper's, else one per item."""
        if n is not None:
            if int(n) < 1:
                raise ValueError(f"n must be >= 1, not {n}")
            return int(n)
        return self.n_default if self.n_default is not None else len(self.item_positions(ds))

    def instance(self, ds: Any, i: int) -> Instance:
        """Instance ``i`` alone (reproducible without generating the others)."""
        self._check(ds)
        items = self.item_positions(ds)
        pos = int(items[i % len(items)])
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(i)]))
        meta = ds.metadata(pos) if self.family == "phase" else {}
        return GENERATORS[self.family](self.params, ds[pos], rng, meta)

    def instances(self, ds: Any, n: Optional[int] = None, start: int = 0) -> Iterator[Instance]:
        """Stream instances ``start .. n-1`` one at a time (never all in memory)."""
        for i in range(start, self.n_instances(ds, n)):
            yield self.instance(ds, i)

    def instance_ids(self, ds: Any, n: Optional[int] = None) -> list[str]:
        """``"{index}:{item id}"`` of every instance, in order (the order predictions must keep)."""
        self._check(ds)
        items = self.item_positions(ds)
        return [f"{i}:{ds.item_id(int(items[i % len(items)]))}" for i in range(self.n_instances(ds, n))]

    def fingerprint(self, ds: Any, n: Optional[int] = None, dataset_fingerprint: Optional[str] = None) -> str:
        """``provenance:sha256`` of the instance list: task, protocol, parameters, n, seed, fixed
        scan masks and the dataset fingerprint (so real and synthetic instances never match)."""
        self._check(ds)
        dfp = dataset_fingerprint or ds.fingerprint()
        head = {"task": self.name, "protocol": self.protocol_version, "params": self.params,
                "n": self.n_instances(ds, n), "seed": self.seed, "dataset": dfp,
                "items": [int(x) for x in self.item_positions(ds)[[0, -1]]],
                "masks": self._fixed_mask_digests()}
        h = hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()
        return f"{ds.provenance}:{h}"

    def _fixed_mask_digests(self) -> list[str]:
        if self.params.get("path") == "spiral":
            return [scans.mask_digest(scans.spiral_mask(self.params["crop"], self.params["coverage"]))]
        if self.family == "stem_adaptive":
            spec = catalog.get(self.dataset)
            return [scans.mask_digest(scans.spiral_mask(spec.item_shape[0], self.params["coverage"]))]
        return []

    # -- formats ------------------------------------------------------------------------------
    def prediction_shape(self) -> tuple[int, ...]:
        """Shape of one prediction."""
        p = self.params
        if self.family == "phase":
            return (p["crop"], p["crop"], 2)
        if self.family == "stem_adaptive":
            return tuple(catalog.get(self.dataset).item_shape[:2])
        return (p["crop"], p["crop"])

    def expected_input_format(self) -> str:
        """What ``evaluate`` accepts for this task, in words (shown with every input error)."""
        shape = ", ".join(map(str, self.prediction_shape()))
        clip = f" Predictions are clipped to {list(self.clip)} before scoring." if self.clip else ""
        return (f"Predictions for {self.name}: a float array of shape [n, {shape}] (float32 or "
                f"float64, all finite), one row per instance in instance order, n = "
                f"{self.n_default if self.n_default is not None else 'number of test items'} by "
                f"default. As a file: .npy, or .npz with key 'predictions' and optionally "
                f"'instance_ids' (copy them from `wemd task inputs`), which must match the "
                f"instances in order. Target: {self.target}.{clip}")

    def describe(self) -> dict[str, Any]:
        """Everything that defines the task, JSON-ready."""
        return {"name": self.name, "title": self.title, "family": self.family,
                "dataset": self.dataset, "split": self.split, "subset": self.subset,
                "protocol_version": self.protocol_version, "params": self.params,
                "standard": self.standard, "seed": self.seed, "n_default": self.n_default,
                "inputs": self.inputs, "target": self.target, "clip": self.clip,
                "metrics": {m: METRICS[m][2] for m in self.metrics}, "primary": self.primary,
                "lower_is_better": self.lower_is_better, "notes": list(self.notes),
                "references": [r.as_dict() for r in self.references]}


# -- the registry ------------------------------------------------------------------------------
_TEM_NOTES = (
    "Protocol: 2x binning (2x2 mean) of each 2048x2048 test image, a uniform random 512x512 crop, "
    "one of 8 flips/rotations, min-max scaling to [0, 1]; Poisson noise of clean * dose; the noisy "
    "image min-max scaled to [0, 1]; the target is the clean crop scaled to the noisy image's mean.",
    "SSIM uses a fixed data_range of 1 (outputs are clipped to [0, 1]); the paper's script took it "
    "from each output's range, so SSIMs are not strictly comparable to Table 1.",
    "Instance i uses test image i mod N, so 20000 instances cycle through the 3486 images.",
)
_STEM_NOTES = (
    "Protocol: non-finite -> 0, linear map to [-1, 1] (range < 1e-6 -> zeros), one of 8 "
    "flips/rotations; target: 5x5 Gaussian (sigma 2.5 px) blur with mirrored borders.",
)


def _tem(name: str, high: bool) -> Task:
    dose = ({"dose": "uniform", "dose_low": 200.0, "dose_high": 2500.0,
             "dose_bins": [200.0, 500.0, 1000.0, 2500.0]} if high else
            {"dose": "exponential", "dose_offset": 25.0, "dose_scale": 75.0,
             "dose_bins": [25.0, 50.0, 100.0, 200.0]})  # the last bin is open: >= 200
    extra = () if high else ("Dose = 25 + Exp(beta 75) as in the paper; the authors' evaluation "
                             "script drew U[25, 100) instead.",)
    return Task(name=name, family="tem_denoise",
                title=f"TEM denoising, {'high' if high else 'low'} dose",
                dataset="tem_full", split="test", params={"crop": 512, **dose},
                metrics=("mse_x1000", "ssim"), primary="mse_x1000",
                inputs={"noisy": "float32 [512, 512] noisy image min-max scaled to [0, 1]"},
                target="clean crop scaled to the noisy image's mean, [512, 512]",
                n_default=20000, references=refs.tem(high), notes=_TEM_NOTES + extra, clip=(0.0, 1.0))


def _spiral(label: str) -> Task:
    cov = 1.0 / float(label)
    return Task(name=f"stem_complete_spiral_{label.replace('.', '_')}", family="stem_completion",
                title=f"Partial STEM completion, spiral scan 1/{label}", dataset="stem_crops",
                split="test", params={"crop": 512, "path": "spiral", "coverage": cov},
                metrics=("rms", "mse"), primary="rms",
                inputs={"samples": "float32 [512, 512] crop values on the path, 0 elsewhere ([-1, 1])",
                        "mask": "bool [512, 512] scan path"},
                target="blurred crop on [-1, 1], [512, 512]", n_default=20000,
                references=refs.spiral(label),
                notes=_STEM_NOTES + ("Fixed centred Archimedes spiral calibrated so the sampled "
                                     f"fraction of the 512x512 crop is 1/{label} (the published "
                                     "after-cropping coverage). RMS is per instance, then averaged.",
                                     "The blurred-mask variant (noise I * (mask + (1 - mask) U[0,2))) "
                                     "is not a task here."))


def _grid() -> Task:
    return Task(name="stem_complete_grid_25", family="stem_completion",
                title="Partial STEM completion, jittered grid scan 1/25", dataset="stem_crops",
                split="test", params={"crop": 512, "path": "jittered_grid", "coverage": 1 / 25, "jitter": 2},
                metrics=("rms", "mse"), primary="rms",
                inputs={"samples": "float32 [512, 512] crop values on the path, 0 elsewhere ([-1, 1])",
                        "mask": "bool [512, 512] scan path"},
                target="blurred crop on [-1, 1], [512, 512]", n_default=20000,
                notes=_STEM_NOTES + ("Full horizontal and vertical lines with spacing s solving "
                                     "1 - (1 - 1/s)^2 = 1/25, random origin, each line jittered by "
                                     "+-2 px; rounding gives ~1/25.9 actual coverage (per-instance "
                                     "coverage is a group). No published number at this coverage.",))


def _supersample() -> Task:
    return Task(name="stem_supersample_103", family="stem_supersample",
                title="STEM supersampling from 103x103 (coverage 1/24.7)", dataset="stem_crops",
                split="test", params={"crop": 512, "low_res": 103},
                metrics=("mse_x200", "rms"), primary="mse_x200",
                inputs={"low_res": "float32 [103, 103] nearest-neighbour downsample ([-1, 1])"},
                target="blurred crop on [-1, 1], [512, 512]", n_default=20000,
                references=refs.supersample(),
                notes=_STEM_NOTES + ("Nearest-neighbour downsampling picks pixel floor((k + 0.5) "
                                     "* 512 / 103); predictions are not clipped (the ALRC paper "
                                     "reports unclipped MSEs).",))


def _adaptive() -> Task:
    return Task(name="stem_adaptive_96", family="stem_adaptive",
                title="Partial STEM 96x96, fixed spiral path at 1/23.04 (adaptive-scan data)",
                dataset="stem_crops_96x96", split="all", subset=(0.8, 1.0),
                params={"coverage": 400 / 9216},
                metrics=("mse", "rms"), primary="mse",
                inputs={"samples": "float32 [96, 96] blurred image on the path, 0 elsewhere ([-1, 1])",
                        "mask": "bool [96, 96] scan path (400 probes)"},
                target="blurred image scaled to [-1, 1], [96, 96]", n_default=None,
                notes=("Split: all items in published order, unshuffled; the last 20% (positions "
                       "floor(0.8 N) .. N-1: 3954 of 19769) are the test set.",
                       "Protocol: 5x5 Gaussian blur (sigma 2.5), then linear map to [-1, 1]; no "
                       "augmentation; one instance per test item.",
                       "This is the fixed-path track: a spiral with 400 sampled pixels (20 segments "
                       "x 20 probes in the paper, coverage 1/23.04). Adaptive methods choose their "
                       "own path and need an interactive sampler, which static predictions cannot "
                       "express; they are not scored here."))


_PHASE_SCOPES = {
    # physics -> scope -> (dataset, split)
    "n3": {"transforms": ("wavefunctions", "train"), "hyperparameters": ("wavefunctions_unseen", "val"),
           "materials": ("wavefunctions", "test")},
    "n1": {"transforms": ("wavefunctions_n1", "train"), "hyperparameters": ("wavefunctions_n1_unseen", "val"),
           "materials": ("wavefunctions_n1", "test")},
    "restricted": {"transforms": ("wavefunctions_restricted", "train"),
                   "materials": ("wavefunctions_restricted", "test")},
    "single_n3": {"transforms": ("wavefunctions_single", "train"),
                  "hyperparameters": ("wavefunctions_single", "val"), "materials": ("wavefunctions", "test")},
    "single_n1": {"transforms": ("wavefunctions_n1_single", "train"),
                  "hyperparameters": ("wavefunctions_n1_single", "val"), "materials": ("wavefunctions_n1", "test")},
}
_SCOPE_WORDS = {"transforms": "unseen flips/rotations/crops of training wavefunctions",
                "hyperparameters": "unseen simulation hyperparameters, seen materials",
                "materials": "unseen materials (journal-held-out test split)"}


def _phase(physics: str, scope: str, dataset: str, split: str) -> Task:
    return Task(name=f"phase_{physics}_{scope}", family="phase",
                title=f"Exit-wave phase from amplitude, {physics.replace('_', ' ')}: {_SCOPE_WORDS[scope]}",
                dataset=dataset, split=split, params={"crop": 224},
                metrics=("phase_mae",), primary="phase_mae",
                inputs={"amplitude": "float32 [224, 224] |psi| of a random crop"},
                target="phase components [224, 224, 2]: cos(theta), sin(theta)", n_default=19992,
                references=refs.phase(physics, scope),
                notes=("Protocol: uniform random 224x224 crop of the 320x320 wave, one of 8 "
                       "flips/rotations; MAE over pixels and both components.",
                       "The paper reported 19992 validation examples; scopes 'materials' use the "
                       "test split here (the paper: the validation journal)."))


def _build() -> dict[str, Task]:
    tasks = [_tem("tem_denoise_low_dose", False), _tem("tem_denoise_high_dose", True)]
    tasks += [_spiral(label) for label in refs.SPIRAL_RMS]
    tasks += [_grid(), _supersample(), _adaptive()]
    tasks += [_phase(phys, scope, d, s) for phys, scopes in _PHASE_SCOPES.items()
              for scope, (d, s) in scopes.items()]
    return {t.name: t for t in tasks}


TASKS: dict[str, Task] = _build()


def tasks() -> dict[str, Task]:
    """Every registered task by name."""
    return dict(TASKS)


def get_task(name: Union[str, Task], **overrides: Any) -> Task:
    """A task by name (or a Task); ``"TASK@DATASET"`` runs it on a curated dataset
    (:meth:`Task.on_dataset`); keyword arguments override protocol parameters, which gives a
    non-standard variant."""
    if isinstance(name, Task):
        return name.with_params(**overrides) if overrides else name
    name, at, dataset = name.partition("@")  # TASK@DATASET: on a curated dataset
    try:
        task = TASKS[name]
    except KeyError:
        raise UnknownTaskError(name) from None
    task = task.on_dataset(dataset) if at else task
    return task.with_params(**overrides) if overrides else task
