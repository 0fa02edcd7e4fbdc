"""The evaluator: predictions on a task's fixed instances -> metrics, with strict input checks.

``evaluate(task, predictions, source=..., root=..., n=...)`` regenerates the task's instances one
at a time, checks every prediction (count, shape, dtype, finiteness, and order when instance ids
are given), clips where the protocol says so, scores each instance and summarises the metrics
overall and per group (dose bin, coverage, voltage, depth, zone ...). Every input error quotes
the task's ``expected_input_format()``. ``Scorer`` is the streaming core, shared with
``run_baseline`` so a baseline never holds all its predictions in memory.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from wemd.errors import WEMDError
from wemd.leaderboard.instances import Instance, label_key
from wemd.leaderboard.metrics import METRICS, summarize
from wemd.leaderboard.tasks import Task, get_task

PredictionsLike = Union[str, "os.PathLike[str]", np.ndarray, Mapping[str, Any], Sequence[np.ndarray]]


class EvaluationInputError(WEMDError, ValueError):
    """Predictions that do not match the task's expected input format."""

    def __init__(self, task: Task, problem: str):
        super().__init__(f"{problem}\nExpected: {task.expected_input_format()}")


@dataclass
class EvalResult:
    """Scores of one set of predictions on one task: a dict (``as_dict``) and a table (``str``)."""

    task: str
    protocol_version: str
    params: dict[str, Any]
    standard: bool
    n: int
    metrics: dict[str, dict[str, float]]
    groups: dict[str, dict[str, dict[str, dict[str, float]]]]
    predictions_sha256: str
    per_instance: dict[str, list[float]] = field(repr=False)
    provenance: str = ""
    source: str = ""
    dataset_fingerprint: str = ""
    instances_fingerprint: str = ""

    def as_dict(self, per_instance: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "per_instance"}
        if per_instance:
            out["per_instance"] = self.per_instance
        return out

    def to_frame(self) -> Any:
        """One row for all instances (group ``"all"``) and one per group label (dose bin,
        voltage, ...): ``group``, ``label``, ``n`` (int), then per metric ``{m}`` (mean),
        ``{m}_std`` and ``{m}_se`` (float; NaN where one instance has none)."""
        import pandas as pd

        rows = [("all", "", self.metrics)] + [(g, lab, d) for g, labs in self.groups.items()
                                              for lab, d in sorted(labs.items(), key=lambda kv: label_key(kv[0]))]
        names = list(self.metrics)
        data = [{"group": g, "label": lab, "n": next(iter(stats.values()))["n"],
                 **{f"{m}{x}": stats[m].get(k) for m in names for x, k in (("", "mean"), ("_std", "std"), ("_se", "se"))}}
                for g, lab, stats in rows]
        frame = pd.DataFrame(data, columns=["group", "label", "n"]
                             + [f"{m}{x}" for m in names for x in ("", "_std", "_se")])
        return frame.astype({"group": "string", "label": "string", "n": "int64"}
                            | {c: "float64" for c in frame.columns[3:]})

    def table(self) -> str:
        """Overall and per-group mean +- std (standard error) of every metric."""
        names = list(self.metrics)
        tag = "" if self.provenance == "real" else f"  [{self.provenance} data: not a real-data result]"
        lines = [f"{self.task} (protocol {self.protocol_version}{'' if self.standard else ', non-standard'}"
                 f", n = {self.n}){tag}"]
        width = max([len("group"), *(len(f"{g}={lab}") for g, d in self.groups.items() for lab in d)])
        lines.append(f"  {'group':<{width}}  {'n':>6}  " + "  ".join(f"{m:>26}" for m in names))
        rows = [("all", self.metrics)] + [(f"{g}={lab}", d) for g, labs in self.groups.items()
                                          for lab, d in sorted(labs.items(), key=lambda kv: label_key(kv[0]))]
        for label, stats in rows:
            count = next(iter(stats.values()))["n"]
            cells = "  ".join(f"{_fmt(stats[m]):>26}" for m in names)
            lines.append(f"  {label:<{width}}  {count:>6}  {cells}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _fmt(s: Mapping[str, float]) -> str:
    return f"{s['mean']:.4g} +- {s['std']:.3g} ({s['se']:.2g})"


class Scorer:
    """Scores predictions one instance at a time and hashes them in order."""

    def __init__(self, task: Task):
        self.task = task
        self.shape = task.prediction_shape()
        self.values: dict[str, list[float]] = {m: [] for m in task.metrics}
        self.group_values: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(
            lambda: {m: [] for m in task.metrics})
        self.hash = hashlib.sha256(f"wemd-predictions/1|{self.shape}".encode())
        self.count = 0

    def add(self, prediction: Any, instance: Instance) -> dict[str, float]:
        """Check and score prediction number ``self.count`` against its instance."""
        k = self.count
        pred = np.asarray(prediction)
        if pred.shape != self.shape:
            raise EvaluationInputError(self.task, f"Prediction {k} has shape {pred.shape}, "
                                                  f"expected {self.shape}.")
        if not np.issubdtype(pred.dtype, np.floating):
            raise EvaluationInputError(self.task, f"Prediction {k} has dtype {pred.dtype}, "
                                                  "expected float32 or float64.")
        pred = pred.astype(np.float32)
        bad = int(np.count_nonzero(~np.isfinite(pred)))
        if bad:
            raise EvaluationInputError(self.task, f"Prediction {k} has {bad} non-finite values "
                                                  "(NaN or inf).")
        self.hash.update(np.ascontiguousarray(pred).tobytes())
        if self.task.clip is not None:
            pred = np.clip(pred, *self.task.clip)
        scores = {m: METRICS[m][0](pred, instance.target) for m in self.task.metrics}
        for m, v in scores.items():
            self.values[m].append(v)
            for g, label in instance.groups.items():
                self.group_values[(g, label)][m].append(v)
        self.count += 1
        return scores

    def result(self, **context: Any) -> EvalResult:
        groups: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
        for (g, label), vals in self.group_values.items():
            groups.setdefault(g, {})[label] = {m: summarize(v) for m, v in vals.items()}
        return EvalResult(task=self.task.name, protocol_version=self.task.protocol_version,
                          params=dict(self.task.params), standard=self.task.standard, n=self.count,
                          metrics={m: summarize(v) for m, v in self.values.items()}, groups=groups,
                          predictions_sha256=self.hash.hexdigest(),
                          per_instance={m: list(v) for m, v in self.values.items()}, **context)


#: The longest instance id accepted ("{index}:{item id}", item ids being relative paths).
MAX_ID_CHARS = 2048
_READ_ERRORS = (OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zlib.error,
                zipfile.BadZipFile)


def _npy_header(fh: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran order, dtype, header length) of the .npy stream at ``fh``; reads the
    header only (numpy bounds its length)."""
    start = fh.tell()
    version = np.lib.format.read_magic(fh)
    shape, fortran, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                             else np.lib.format.read_array_header_2_0(fh))
    return shape, fortran, dtype, fh.tell() - start


def _open_npy(fh: BinaryIO, size: int, name: str, check: Callable[[tuple[int, ...], np.dtype], None]
              ) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Read a .npy header, let ``check`` refuse its shape and dtype, and refuse a file or member
    of ``size`` bytes that holds anything but that header and its data."""
    shape, fortran, dtype, offset = _npy_header(fh)
    check(shape, dtype)
    expected = offset + math.prod(shape) * dtype.itemsize
    if size != expected:
        raise ValueError(f"{name} declares {size} bytes but its header describes {expected} "
                         f"({dtype} {shape}); save it again with numpy")
    return shape, fortran, dtype, offset


def npz_member(path: Path, name: str,
               check: Optional[Callable[[tuple[int, ...], np.dtype], None]] = None) -> np.ndarray:
    """One array of an .npz, read alone: its header is checked first (``check``, then its size),
    then it is memory-mapped when stored uncompressed (``np.savez``), else decompressed. Other
    members are never read."""
    check = check or _plain_array
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"{name}.npy")
        with zf.open(info) as fh:
            shape, fortran, dtype, offset = _open_npy(fh, info.file_size, info.filename, check)
        if info.compress_type != zipfile.ZIP_STORED:
            with zf.open(info) as fh:
                return np.lib.format.read_array(fh, allow_pickle=False)
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)  # local file header: name and extra-field lengths at bytes 26..29
        start = (info.header_offset + 30 + int.from_bytes(local[26:28], "little")
                 + int.from_bytes(local[28:30], "little"))
    return np.memmap(path, dtype=dtype, mode="r", offset=start + offset, shape=shape,
                     order="F" if fortran else "C")


def npy_file(path: Path, check: Callable[[tuple[int, ...], np.dtype], None]) -> np.ndarray:
    """A .npy file memory-mapped after ``check`` has seen its header and its size is right."""
    with open(path, "rb") as fh:
        shape, fortran, dtype, offset = _open_npy(fh, path.stat().st_size, path.name, check)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")


def _plain_array(shape: tuple[int, ...], dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise ValueError("it holds Python objects; save plain numeric arrays")


def _check_layout(task: Task, shape: tuple[int, ...], dtype: np.dtype, count: int) -> None:
    """Refuse predictions whose shape or dtype cannot fit ``count`` instances of ``task``; given
    a .npy header, this runs before any data is read."""
    if shape:
        _check_count(task, shape[0], count)
    expected = task.prediction_shape()
    if tuple(shape[1:]) != expected or len(shape) != len(expected) + 1:
        raise EvaluationInputError(task, f"Predictions have shape {tuple(shape)}: one prediction "
                                         f"has shape {tuple(shape[1:])}, expected {expected}.")
    if not np.issubdtype(dtype, np.floating):
        raise EvaluationInputError(task, f"Predictions have dtype {dtype}, expected float32 or "
                                         "float64.")


def _check_count(task: Task, got: int, count: int) -> None:
    if got != count:
        raise EvaluationInputError(task, f"Got {got} predictions but the task has {count} "
                                         f"instances; pass n={got} (`--n {got}`) to score a "
                                         "different (non-standard) number.")


def _check_ids(task: Task, shape: tuple[int, ...], dtype: np.dtype, count: int) -> None:
    if shape != (count,) or dtype.kind not in "US" or dtype.itemsize > 4 * MAX_ID_CHARS:
        raise EvaluationInputError(task, f"instance_ids must be {count} strings of at most "
                                         f"{MAX_ID_CHARS} characters (as `wemd task inputs` "
                                         f"writes them), not {dtype} {tuple(shape)}.")


def load_predictions(task: Task, predictions: PredictionsLike,
                     count: int) -> tuple[Any, Optional[list[str]]]:
    """Predictions for ``count`` instances as an indexable array (files memory-mapped where they
    can be) and optional instance ids. Files are read member by member, each header checked
    before its data: only ``predictions`` and ``instance_ids`` of an .npz are ever read."""
    def layout(shape: tuple[int, ...], dtype: np.dtype) -> None:
        _check_layout(task, shape, dtype, count)

    ids = None
    if isinstance(predictions, (str, os.PathLike)):
        path = Path(predictions)
        if not path.is_file():
            raise EvaluationInputError(task, f"No predictions file at {path}.")
        try:
            if path.suffix == ".npy":
                return npy_file(path, layout), None
            if not zipfile.is_zipfile(path):
                raise EvaluationInputError(task, f"{path} is not an .npz archive or .npy array.")
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
            if "predictions.npy" not in names:
                found = sorted(n.removesuffix(".npy") for n in names)
                raise EvaluationInputError(task, f"No 'predictions' key; found {found[:10]}"
                                                 f"{' ...' if len(found) > 10 else ''}.")
            preds = npz_member(path, "predictions", layout)
            if "instance_ids.npy" in names:
                raw = npz_member(path, "instance_ids", lambda s, d: _check_ids(task, s, d, count))
                ids = [str(x) for x in raw.tolist()]
            return preds, ids
        except EvaluationInputError:
            raise
        except _READ_ERRORS as exc:
            raise EvaluationInputError(task, f"Cannot read {path} as .npy/.npz: {exc}") from exc
    if isinstance(predictions, Mapping):
        if "predictions" not in predictions:
            raise EvaluationInputError(task, f"No 'predictions' key; found {sorted(predictions)}.")
        if "instance_ids" in predictions:
            ids = [str(x) for x in np.asarray(predictions["instance_ids"]).tolist()]
        predictions = predictions["predictions"]
    if isinstance(predictions, (np.ndarray, np.generic)):
        predictions = np.asarray(predictions)
        layout(predictions.shape, predictions.dtype)
        return predictions, ids
    if isinstance(predictions, Sequence):
        _check_count(task, len(predictions), count)
        return list(predictions), ids
    raise EvaluationInputError(task, f"Cannot use predictions of type {type(predictions).__name__}.")


def evaluate(task: Union[str, Task], predictions: PredictionsLike, *, source: str = "local",
             root: Any = None, n: Optional[int] = None, ds: Any = None,
             instance_ids: Optional[Sequence[str]] = None, progress: bool = True,
             **overrides: Any) -> EvalResult:
    """Score predictions on a task's fixed instances (regenerated from ``source``/``root``).

    ``n`` is the number of instances (the paper's by default); ``overrides`` change protocol
    parameters (e.g. ``crop=64``), which makes the result non-standard.
    """
    from tqdm.auto import tqdm

    task = get_task(task, **overrides)
    ds = ds if ds is not None else task.open(source=source, root=root)
    count = task.n_instances(ds, n)
    preds, file_ids = load_predictions(task, predictions, count)
    given = list(instance_ids) if instance_ids is not None else file_ids
    if given is not None:
        expected = task.instance_ids(ds, count)
        if len(given) != len(expected) or given != expected:
            first = next((i for i, (a, b) in enumerate(zip(given, expected)) if a != b), min(len(given), len(expected)))
            raise EvaluationInputError(task, f"instance_ids differ from the task's instances at "
                                             f"position {first} (expected "
                                             f"{expected[first] if first < len(expected) else 'end'}); "
                                             "keep the order of `wemd task inputs`.")
    scorer = Scorer(task)
    for inst in tqdm(task.instances(ds, count), total=count, desc=f"evaluate {task.name}",
                     disable=not progress, unit="inst"):
        scorer.add(preds[scorer.count], inst)
    dfp = ds.fingerprint()
    return scorer.result(provenance=ds.provenance, source=source, dataset_fingerprint=dfp,
                         instances_fingerprint=task.fingerprint(ds, count, dataset_fingerprint=dfp))
