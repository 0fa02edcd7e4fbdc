"""Score one queued submission on the server's own data with the evaluator of ``wemd evaluate``.

Predictions are read member by member by the evaluator (headers first, no pickles, every value
checked); a model is first run by :mod:`.sandbox` on the task's fixed inputs, written once per
(task, parameters, n) from the server's data. The section (real / subset / synthetic) and the
fingerprints of the entry come from the server's data, never from the client.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from wemd.errors import WEMDError
from wemd.leaderboard.board import entry_id
from wemd.leaderboard.evaluator import evaluate
from wemd.leaderboard.inputs import write_inputs
from wemd.leaderboard.records import make_record, validate
from wemd.leaderboard.server.sandbox import run_model
from wemd.leaderboard.server.store import Store
from wemd.leaderboard.tasks import get_task

#: Verification levels, strongest first, as shown on every entry.
MODEL_RERUN = "model re-run on server"
SCORED = "predictions scored on server"
SELF_REPORTED = "self-reported record"
LEVELS = (MODEL_RERUN, SCORED, SELF_REPORTED)

MiB = 1 << 20


@dataclass(frozen=True)
class Config:
    """What a board serves from and its limits (handed to every worker process)."""

    db: str
    data: Path
    source: str = "local"
    root: Optional[str] = None
    upload_cap: int = 512 * MiB
    model_cap: int = 200 * MiB
    model_timeout: float = 600.0
    model_memory: int = 4096 * MiB
    rate: int = 60  # uploads + submissions per token per minute
    max_files: int = 10


@dataclass
class Scorer:
    """A worker's scorer: keeps the opened datasets between jobs."""

    cfg: Config
    _datasets: dict[tuple[str, str], Any] = field(default_factory=dict)

    def dataset(self, task: Any) -> Any:
        key = (task.dataset, task.split)
        if key not in self._datasets:
            self._datasets[key] = task.open(source=self.cfg.source, root=self.cfg.root)
        return self._datasets[key]

    def score(self, job: dict[str, Any]) -> dict[str, Any]:
        """The entry (a row of ``entries``) of a claimed job; WEMDErrors name what is wrong."""
        task = get_task(job["task"], **job["params"])
        ds = self.dataset(task)
        most = task.n_instances(ds)
        if job["n"] is not None and job["n"] > most:
            raise WEMDError(f"n = {job['n']} is more than the {most} instances of {task.name}'s "
                            "protocol; submit n <= that (or leave --n out).")
        store = Store(self.cfg.data)
        results = []
        with tempfile.TemporaryDirectory(prefix="job-", dir=store.folder / "tmp") as tmp:
            for k, sha in enumerate(job["files"]):
                if job["mode"] == "model":
                    preds = run_model(store.path(sha), self.inputs(task, ds, job["n"], Path(tmp)),
                                      Path(tmp) / f"{k}.npy", timeout=self.cfg.model_timeout,
                                      memory=self.cfg.model_memory)
                else:
                    preds = _typed(store.path(sha), Path(tmp) / str(k))
                results.append(evaluate(task, preds, source=self.cfg.source, root=self.cfg.root,
                                        n=job["n"], ds=ds, progress=False))
        record = make_record(results, job["method"], kind=job["kind"],
                             seeds=job["seeds"] or None, code_url=job["code_url"],
                             description=f"submitted as {job['mode']} (submission {job['id']})")
        record["hardware"] = {"scored_by": "wemd leaderboard server"}
        validate(record)
        level = MODEL_RERUN if job["mode"] == "model" else SCORED
        return {"id": entry_id(record), "submission_id": job["id"], "task": task.name,
                "verification": level, "record": record, "created": time.time()}

    def inputs(self, task: Any, ds: Any, n: Optional[int], tmp: Path) -> Path:
        """The task's fixed inputs on this server's data. Only the standard protocol's full set
        is cached (written once, then reused); any other parameters or ``n`` are written into
        the job's ``tmp`` folder and dropped with it, so submitters cannot fill the disk with
        one cached input set per variant."""
        count = task.n_instances(ds, n)
        if task.standard and count == task.n_instances(ds):
            key = task.fingerprint(ds, count).split(":")[1][:32]
            path = self.cfg.data / "inputs" / f"{key}.npz"
        else:
            path = tmp / "inputs.npz"
        if not path.is_file():
            write_inputs(task, path, ds=ds, n=count, progress=False)
        return path


def clear_leftovers(data: Path) -> int:
    """Remove what a killed board left half done in its ``data`` folder: uploads and job
    folders in ``tmp`` and half-written input sets (hidden entries) in ``inputs``, which can
    be gigabytes each. Only for a board's start, before its workers, when none of its work
    runs; return how many entries were removed."""
    removed = 0
    for folder, leftover in ((data / "tmp", "*"), (data / "inputs", ".*")):
        for path in folder.glob(leftover):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
    return removed


def _typed(blob: Path, base: Path) -> Path:
    """The blob under a name whose suffix tells the evaluator how to read it (.npy or .npz)."""
    with open(blob, "rb") as fh:
        magic = fh.read(6)
    link = base.with_suffix(".npy" if magic == b"\x93NUMPY" else ".npz")
    os.symlink(blob, link)
    return link
