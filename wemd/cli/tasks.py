"""Sub-commands of the benchmark: tasks, task inputs/show, evaluate, baseline (the board's own
commands are in ``wemd.cli.leaderboard``).

``--source`` (with ``--scale``/``--synth-seed``) means the data a command works on: the data
``task inputs``, ``evaluate`` and ``baseline run`` score on (their records name it, e.g.
``synthetic:tiny-0``); for ``tasks``, the data whose presence on disk it reports per task.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from wemd.cli._args import add_data_options, data_root, key_values, synth_command, synthetic_build


def _data_args(p: argparse.ArgumentParser) -> None:
    add_data_options(p)
    p.add_argument("--n", type=int, default=None, help="number of instances (default: the paper's)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a protocol parameter (non-standard, e.g. crop=64); repeatable")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _board_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", default=None,
                   help="board directory (default: $WEMD_LEADERBOARD or {data home}/leaderboard)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="every benchmark task: data, metrics, protocol")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_data_options(p, ("local", "synthetic"), None,
                     "; given (or --root): also whether each task's data is on disk there")
    p.set_defaults(func=_tasks)

    task = sub.add_parser("task", help="one task: its definition or its fixed test inputs")
    tsub = task.add_subparsers(dest="task_command", metavar="ACTION", required=True)
    p = tsub.add_parser("show", help="the full definition of a task (JSON)")
    p.add_argument("name")
    p.set_defaults(func=_task_show)
    p = tsub.add_parser("inputs", help="write the task's test inputs and instance ids to .npz")
    p.add_argument("name")
    p.add_argument("--out", required=True)
    _data_args(p)
    p.set_defaults(func=_task_inputs)

    p = sub.add_parser("evaluate", help="score predictions (.npy/.npz) on a task's instances")
    p.add_argument("name")
    p.add_argument("predictions", nargs="+", help="one file, or one per seed of a learned method")
    _data_args(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--record", default=None, help="also write a result record to this JSON file")
    p.add_argument("--method", default=None, help="method name for --record")
    p.add_argument("--kind", choices=("classical", "learned"), default="learned",
                   help="learned methods need >= 3 prediction files, one per training seed")
    p.add_argument("--seeds", type=int, nargs="*", default=None, help="seed of each prediction file")
    p.add_argument("--code-url", default=None)
    p.set_defaults(func=_evaluate)

    base = sub.add_parser("baseline", help="classical baselines")
    bsub = base.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)
    p = bsub.add_parser("list", help="the classical baselines of a task (or of every task family)")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=_baseline_list)
    p = bsub.add_parser("run", help="run a baseline on a task and write its result record")
    p.add_argument("name")
    p.add_argument("method")
    _data_args(p)
    p.add_argument("--seed", type=int, default=0, help="seed of stochastic baselines")
    p.add_argument("--fit", action="store_true",
                   help="shrink the crop to small data (non-standard; e.g. a synthetic stand-in)")
    p.add_argument("--out", default=None, help="record path (default: result_{task}_{method}.json)")
    p.add_argument("--submit", action="store_true", help="also submit the record to the board")
    _board_arg(p)
    p.set_defaults(func=_baseline_run)


def _overrides(args: argparse.Namespace) -> dict:
    return key_values(args.param, "--param", "crop=64")


def _tasks(args: argparse.Namespace) -> int:
    from wemd.leaderboard import tasks

    all_tasks = tasks()
    if args.source is None and args.root is not None:
        args.source = "local"
    on_disk = {t.dataset: _on_disk(args, t.dataset) for t in all_tasks.values()} if args.source else {}
    if args.json:
        print(json.dumps({k: t.describe() | ({"data": on_disk[t.dataset]} if on_disk else {})
                          for k, t in all_tasks.items()}, indent=2, default=str))
        return 0
    width = max(map(len, all_tasks))
    for name, t in all_tasks.items():
        n = t.n_default if t.n_default is not None else "all"
        data = f"{t.dataset}/{t.split}"
        ready = f"{'ready' if on_disk[t.dataset]['ready'] else 'missing':<8} " if on_disk else ""
        print(f"{name:<{width}}  {data:<30}  {ready}n={n!s:<6} {','.join(t.metrics):<15} "
              f"v{t.protocol_version}  {t.title}")
    missing = sorted(d for d, info in on_disk.items() if not info["ready"])
    if missing:
        print(_how_to_get(args.source, missing))
    return 0


def _on_disk(args: argparse.Namespace, dataset: str) -> dict[str, Any]:
    """Whether a dataset is on disk in the chosen source, and where (no data is read or built)."""
    from wemd.home import dataset_dir

    folder = dataset_dir(dataset, data_root(args))
    ready = folder.is_dir() and any(folder.iterdir())
    return {"source": args.source, "folder": str(folder), "ready": ready}


def _how_to_get(source: str, missing: list[str]) -> str:
    """One line saying how to get the datasets that are not on disk in ``source``."""
    build = synthetic_build(source)
    if build is not None:
        return (f"missing: {', '.join(missing)}; any command that reads them builds them, or now: "
                f"{synth_command(*build, missing)}")
    return (f"missing: {', '.join(missing)}; see `wemd download NAME` and `wemd path NAME`, or run "
            "the tasks on the synthetic stand-in with --source synthetic")


def _task_show(args: argparse.Namespace) -> int:
    from wemd.leaderboard import get_task

    print(json.dumps(get_task(args.name).describe(), indent=2, default=str))
    return 0


def _task_inputs(args: argparse.Namespace) -> int:
    from wemd.leaderboard import write_inputs

    path = write_inputs(args.name, args.out, source=args.source, root=args.root, n=args.n,
                        progress=not args.quiet, **_overrides(args))
    print(path)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from wemd.files import write_json
    from wemd.leaderboard import evaluate, make_record

    if args.record and not args.method:
        raise SystemExit("wemd: error: --record needs --method NAME")
    results = []
    for path in args.predictions:
        res = evaluate(args.name, path, source=args.source, root=args.root, n=args.n,
                       progress=not args.quiet, **_overrides(args))
        print(json.dumps(res.as_dict(), indent=2) if args.json else res.table())
        results.append(res)
    if args.record:
        write_json(args.record, make_record(results, args.method, kind=args.kind, seeds=args.seeds,
                                            code_url=args.code_url))
        print(f"record: {args.record}")
    return 0


def _baseline_list(args: argparse.Namespace) -> int:
    from wemd.baselines.classical import methods
    from wemd.leaderboard import get_task, tasks

    families = [get_task(args.name).family] if args.name else sorted({t.family for t in tasks().values()})
    for fam in families:
        print(f"{fam}:")
        for name, m in methods(fam).items():
            print(f"  {name:<15} {m.description}")
    return 0


def _baseline_run(args: argparse.Namespace) -> int:
    from wemd.baselines import run_baseline
    from wemd.files import write_json
    from wemd.leaderboard import Board

    rec = run_baseline(args.name, args.method, source=args.source, root=args.root, n=args.n,
                       seed=args.seed, progress=not args.quiet, fit=args.fit, **_overrides(args))
    out = args.out or f"result_{args.name}_{args.method}.json"
    write_json(out, rec)
    for m, s in rec["metrics"].items():
        print(f"{m}: {s['mean']:.6g} +- {s['std']:.3g} (n = {s['n']}, {rec['data']['provenance']} data)")
    print(f"record: {out}")
    if args.submit:
        print(f"submitted: {Board(args.board).submit(rec, root=args.root)}")
    return 0
