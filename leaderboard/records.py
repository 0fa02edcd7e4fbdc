"""Result records: one JSON document per (task, method, data, predictions), with a JSON schema.

A record carries everything needed to judge and reproduce a score: the task and protocol
version, the data source and provenance with the dataset and instance fingerprints, the metrics
(for learned methods: >= 3 seeds, reported as mean +- std over the seeds' means), the method and
its parameters and code URL, hardware, date, package version and the predictions' hash.
Records are made from ``EvalResult`` objects (``make_record``), never typed in.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np

from wemd.errors import WEMDError, require
from wemd.leaderboard.evaluator import EvalResult
from wemd.leaderboard.metrics import summarize

RECORD_FORMAT = "wemd-result/1"
MIN_SEEDS_LEARNED = 3

#: The largest record file read (records are a few kB; this bounds a hostile one).
MAX_RECORD_BYTES = 1 << 20

_STATS = {"type": "object", "required": ["mean", "std"],
          "properties": {"mean": {"type": "number"}, "std": {"type": ["number", "null"], "minimum": 0},
                         "se": {"type": ["number", "null"], "minimum": 0},
                         "n": {"type": "integer", "minimum": 1}}}
_METRICS = {"type": "object", "minProperties": 1, "additionalProperties": _STATS}
#: Text shown in tables and plots: one short line.
_TEXT = {"type": "string", "minLength": 1, "maxLength": 200, "not": {"pattern": "[\\x00-\\x1f\\x7f]"}}
_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_FP = {"type": "string", "pattern": "^(real|subset|synthetic|simulated):[0-9a-f]{64}$"}

#: JSON Schema (draft 2020-12) of a result record.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://wemd/schemas/result-1.json",
    "title": "WEMD leaderboard result record",
    "type": "object",
    "required": ["format", "task", "protocol_version", "data", "method", "metrics", "runs",
                 "predictions_sha256", "hardware", "date", "package_version"],
    "properties": {
        "format": {"const": RECORD_FORMAT},
        "task": {"type": "string", "minLength": 1},
        "protocol_version": {"type": "string"},
        "data": {"type": "object",
                 "required": ["source", "provenance", "dataset_fingerprint", "instances_fingerprint",
                              "n", "params", "standard"],
                 "properties": {"source": {"type": "string"},
                                "provenance": {"enum": ["real", "subset", "synthetic", "simulated", "curated"]},
                                "dataset_fingerprint": _FP, "instances_fingerprint": _FP,
                                "n": {"type": "integer", "minimum": 1},
                                "params": {"type": "object"}, "standard": {"type": "boolean"}}},
        "method": {"type": "object", "required": ["name", "kind", "parameters"],
                   "properties": {"name": _TEXT,
                                  "kind": {"enum": ["classical", "learned"]},
                                  "code_url": {"type": ["string", "null"]},
                                  "parameters": {"type": "object"},
                                  "description": {"type": "string"}}},
        "metrics": _METRICS,
        "groups": {"type": "object", "propertyNames": _TEXT,  # group -> label -> metrics
                   "additionalProperties": {"type": "object", "propertyNames": _TEXT,
                                            "additionalProperties": _METRICS}},
        "runs": {"type": "array", "minItems": 1,
                 "items": {"type": "object", "required": ["seed", "metrics", "predictions_sha256"],
                           "properties": {"seed": {"type": ["integer", "null"]},
                                          "metrics": _METRICS,
                                          "predictions_sha256": _HEX64}}},
        "predictions_sha256": _HEX64,
        "hardware": {"type": "object"},
        "date": _TEXT,
        "package_version": {"type": "string"},
        "notes": {"type": "string"},
    },
    "if": {"properties": {"method": {"properties": {"kind": {"const": "learned"}}}}},
    "then": {"properties": {"runs": {"minItems": MIN_SEEDS_LEARNED}}},
}


class RecordError(WEMDError, ValueError):
    """A result record that fails the schema or the leaderboard's checks."""


def hardware() -> dict[str, Any]:
    """What ran the method: platform, CPU count, and the GPU when an imported torch sees one
    (torch is not imported here just to look: that takes seconds)."""
    info: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(),
                            "processor": platform.processor() or platform.machine(),
                            "cpus": os.cpu_count(), "python": platform.python_version(),
                            "numpy": np.__version__}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def make_record(results: Union[EvalResult, Sequence[EvalResult]], method: str, *,
                kind: str = "classical", seeds: Optional[Sequence[Optional[int]]] = None,
                parameters: Optional[dict[str, Any]] = None, code_url: Optional[str] = None,
                description: str = "", notes: str = "") -> dict[str, Any]:
    """A result record from one evaluation (classical) or one per seed (learned: >= 3).

    With several runs, each metric is the mean over the runs' means, and its std the standard
    deviation across runs (as the papers report seeds).
    """
    from wemd import __version__

    runs = [results] if isinstance(results, EvalResult) else list(results)
    seeds = list(seeds) if seeds is not None else [None] * len(runs)
    if len(seeds) != len(runs):
        raise RecordError(f"{len(runs)} evaluations but {len(seeds)} seeds.")
    if kind == "learned" and len(runs) < MIN_SEEDS_LEARNED:
        raise RecordError(f"A learned method needs >= {MIN_SEEDS_LEARNED} seeds (runs); got {len(runs)}.")
    first = runs[0]
    keys = ("task", "protocol_version", "instances_fingerprint", "n")
    for r in runs[1:]:
        if any(getattr(r, k) != getattr(first, k) for k in keys):
            raise RecordError("All runs of one record must be evaluated on the same task instances.")
    if len(runs) == 1:
        metrics = first.metrics
        pred_hash = first.predictions_sha256
    else:
        metrics = {m: {**summarize([r.metrics[m]["mean"] for r in runs]), "over": "seeds"}
                   for m in first.metrics}
        pred_hash = hashlib.sha256("".join(r.predictions_sha256 for r in runs).encode()).hexdigest()
    return {
        "format": RECORD_FORMAT, "task": first.task, "protocol_version": first.protocol_version,
        "data": {"source": first.source, "provenance": first.provenance,
                 "dataset_fingerprint": first.dataset_fingerprint,
                 "instances_fingerprint": first.instances_fingerprint, "n": first.n,
                 "params": first.params, "standard": first.standard},
        "method": {"name": method, "kind": kind, "code_url": code_url,
                   "parameters": parameters or {}, "description": description},
        "metrics": _nan_to_none(metrics), "groups": _nan_to_none(first.groups),
        "runs": [{"seed": s, "metrics": _nan_to_none(r.metrics), "predictions_sha256": r.predictions_sha256}
                 for s, r in zip(seeds, runs)],
        "predictions_sha256": pred_hash, "hardware": hardware(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "package_version": __version__, "notes": notes,
    }


def _nan_to_none(obj: Any) -> Any:
    """JSON has no NaN: a standard error of one instance is stored as null."""
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def validate(record: dict[str, Any]) -> None:
    """Raise RecordError naming every problem: schema violations (needs ``wemd[leaderboard]``),
    numbers that are not finite, and breakdowns (runs, groups) without the record's metrics."""
    jsonschema = require("jsonschema", "leaderboard")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'/'.join(map(str, e.absolute_path)) or '(record)'}: {e.message}" for e in errors[:10]]
        raise RecordError("The result record does not match the schema (`wemd leaderboard schema`):\n"
                          + "\n".join(lines))
    problems = [f"  {where}: {value!r:.40} is not a finite number" for where, value in _numbers(record)
                if not _finite(value)]
    metrics = sorted(record["metrics"])
    breakdowns = [(f"runs/{i}/metrics", run["metrics"]) for i, run in enumerate(record["runs"])]
    breakdowns += [(f"groups/{g}/{label}", stats) for g, labels in record.get("groups", {}).items()
                   for label, stats in labels.items()]
    problems += [f"  {where}: has metrics {sorted(stats)}, the record has {metrics}"
                 for where, stats in breakdowns if sorted(stats) != metrics]
    if problems:
        raise RecordError("The result record holds values no evaluation writes; a record holds "
                          "finite numbers only and every breakdown has the record's metrics. "
                          "Re-run the evaluation rather than editing the record:\n"
                          + "\n".join(problems[:10]))


def _numbers(obj: Any, where: str = "") -> Iterator[tuple[str, Union[int, float]]]:
    """(path, value) of every number in a JSON document."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _numbers(value, f"{where}/{key}" if where else str(key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _numbers(value, f"{where}/{i}")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield where, obj


def _finite(value: Union[int, float]) -> bool:
    """A float that is not NaN or infinite, or an integer a float can hold."""
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond the float range, e.g. 10**400
        return False


def read_record(path: Union[str, "os.PathLike[str]"]) -> dict[str, Any]:
    """Load a record from a JSON file of at most ``MAX_RECORD_BYTES`` and validate it."""
    if not Path(path).is_file():  # a folder, a pipe or a device is no record (and may never end)
        raise RecordError(f"No result record file at {path}.")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_RECORD_BYTES + 1)
        if len(data) > MAX_RECORD_BYTES:
            raise ValueError(f"it is larger than {MAX_RECORD_BYTES} bytes, and a record is a few kB")
        record = json.loads(data)
    except (OSError, ValueError, RecursionError) as exc:  # JSON, UTF-8 and int-size errors are ValueErrors
        raise RecordError(f"Cannot read a result record from {path}: {exc}") from exc
    if not isinstance(record, dict):
        raise RecordError(f"{path} holds a JSON {type(record).__name__}, not a record object.")
    validate(record)
    return record
