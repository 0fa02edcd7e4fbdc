"""wemd.leaderboard: benchmark tasks, their evaluator, result records and the board.

Python API (the CLI ``wemd tasks | task | evaluate | baseline | leaderboard`` wraps it)::

    from wemd import leaderboard as lb

    lb.tasks()                                   # name -> Task (dataset/split, protocol, metrics)
    task = lb.get_task("tem_denoise_low_dose")   # get_task(name, crop=64): non-standard variant
    ds = task.open(source="synthetic")           # or source="local", root=...
    for inp, target, groups in task.instances(ds, n=10): ...   # streamed, seeded per instance
    lb.write_inputs(task, "inputs.npz", n=10)    # the fixed inputs + instance_ids
    res = lb.evaluate(task, "predictions.npz", n=10)            # -> EvalResult
    res.as_dict(); print(res)                    # metrics mean/std/se, per-group breakdowns
    rec = lb.make_record(res, "my-net", kind="learned", ...)    # learned: one result per seed, >= 3
    rec = run_baseline(task, "gaussian", source="synthetic", n=10)   # wemd.baselines: classical -> record
    lb.Board().submit(rec)                       # validated, fingerprint-checked, stored atomically
    print(lb.Board().table(task.name)); lb.render("site/")
    lb.Client("http://127.0.0.1:8080", token=T).submit(task.name, "preds.npz", method="my-net")
                                                 # a board server scores it (wemd[server])

Instances: instance ``i`` uses item ``i mod len(items)`` and ``SeedSequence([task.seed, i])``;
the instance fingerprint covers the task, protocol version, parameters, n, seed, fixed scan
masks and the dataset fingerprint, so real and synthetic results never mix. The board lives in
``$WEMD_LEADERBOARD`` or ``{data home}/leaderboard`` (``Board(path)`` to choose).

Dependencies point one way: ``wemd.baselines`` (classical runs, training) is scored by this
package, and nothing here imports it. ``lb.run_baseline`` / ``lb.evaluate_method`` remain as
aliases of ``wemd.baselines.run_baseline`` / ``evaluate_method``, resolved on first use.
"""

from wemd.leaderboard.board import Board, DuplicateEntryError, board_dir
from wemd.leaderboard.evaluator import EvalResult, EvaluationInputError, Scorer, evaluate
from wemd.leaderboard.inputs import write_inputs
from wemd.leaderboard.instances import Instance, TaskDataError
from wemd.leaderboard.records import SCHEMA, RecordError, make_record, read_record, validate
from wemd.leaderboard.render import render
from wemd.leaderboard.tasks import PROTOCOL_VERSION, Task, UnknownTaskError, get_task, tasks

__all__ = [
    "Board", "Client", "DuplicateEntryError", "EvalResult", "EvaluationInputError", "Instance",
    "PROTOCOL_VERSION", "RecordError", "SCHEMA", "Scorer", "Task", "TaskDataError",
    "UnknownTaskError", "board_dir", "evaluate", "evaluate_method", "get_task", "make_record",
    "read_record", "render", "run_baseline", "tasks", "validate", "write_inputs",
]
_BASELINE_RUNS = ("evaluate_method", "run_baseline")


def __getattr__(name: str):
    """``lb.run_baseline`` and ``lb.evaluate_method``: kept aliases of ``wemd.baselines.run``;
    ``lb.Client`` (a board server's client) imports httpx only when used."""
    if name == "Client":
        from wemd.leaderboard.server.client import Client

        return Client
    if name in _BASELINE_RUNS:
        from wemd.baselines import run

        return getattr(run, name)
    raise AttributeError(f"module 'wemd.leaderboard' has no attribute {name!r}")
