"""Run a classical baseline on a task: stream instances -> predictions -> scores -> record.

Baselines are scored by the leaderboard's evaluator, so this module (like ``training``) depends
on ``wemd.leaderboard``; nothing in ``wemd.leaderboard`` imports ``wemd.baselines``.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from wemd.baselines.classical import get_method
from wemd.leaderboard.evaluator import EvalResult, Scorer
from wemd.leaderboard.records import make_record
from wemd.leaderboard.tasks import Task, get_task


def evaluate_method(task: Union[str, Task], method: str, *, source: str = "local", root: Any = None,
                    n: Optional[int] = None, seed: int = 0, ds: Any = None, progress: bool = True,
                    fit: bool = False, **overrides: Any) -> EvalResult:
    """Scores of one classical baseline on a task's instances (predictions are never stored).

    ``fit=True`` shrinks the crop to the data when its items are too small (``Task.fit_to``).
    """
    from tqdm.auto import tqdm

    task = get_task(task, **overrides)
    m = get_method(task.family, method)
    ds = ds if ds is not None else task.open(source=source, root=root)
    task = task.fit_to(ds) if fit else task
    count = task.n_instances(ds, n)
    scorer = Scorer(task)
    for i, inst in enumerate(tqdm(task.instances(ds, count), total=count, unit="inst",
                                  desc=f"{method} on {task.name}", disable=not progress)):
        rng = np.random.default_rng(np.random.SeedSequence([seed, task.seed, i]))
        scorer.add(np.asarray(m.predict(inst.input, rng, task.params), np.float32), inst)
    dfp = ds.fingerprint()
    return scorer.result(provenance=ds.provenance, source=source, dataset_fingerprint=dfp,
                         instances_fingerprint=task.fingerprint(ds, count, dataset_fingerprint=dfp))


def run_baseline(task: Union[str, Task], method: str, *, source: str = "local", root: Any = None,
                 n: Optional[int] = None, seed: int = 0, ds: Any = None, progress: bool = True,
                 fit: bool = False, **overrides: Any) -> dict[str, Any]:
    """Run a classical baseline and return its result record (ready for ``Board.submit``)."""
    task = get_task(task, **overrides)
    m = get_method(task.family, method)
    result = evaluate_method(task, method, source=source, root=root, n=n, seed=seed, ds=ds,
                             progress=progress, fit=fit)
    return make_record(result, method, kind="classical", seeds=[seed if m.stochastic else None],
                       parameters=m.parameters, description=m.description,
                       code_url=f"python:{m.code}",
                       notes="" if result.standard else "non-standard protocol parameters")
