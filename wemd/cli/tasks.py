"""Sub-commands of the benchmark: tasks, task inputs/show, evaluate, baseline, leaderboard."""

from __future__ import annotations

import argparse
import json

from wemd.cli._args import add_data_options, add_root, key_values


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
    p.add_argument("--json", action="store_true")
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

    lb = sub.add_parser("leaderboard", help="submit results, show and render the board")
    lsub = lb.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    p = lsub.add_parser("submit", help="validate a result record and add it to the board")
    p.add_argument("records", nargs="+")
    add_root(p, "data home for the fingerprint check")
    _board_arg(p)
    p.set_defaults(func=_submit)
    p = lsub.add_parser("show", help="terminal table of one task (or all tasks with entries)")
    p.add_argument("name", nargs="?")
    _board_arg(p)
    p.set_defaults(func=_show)
    p = lsub.add_parser("render", help="write Markdown + static HTML pages with plots")
    p.add_argument("outdir")
    _board_arg(p)
    p.set_defaults(func=_render)
    p = lsub.add_parser("schema", help="print the JSON schema of result records")
    p.set_defaults(func=_schema)


def _overrides(args: argparse.Namespace) -> dict:
    return key_values(args.param, "--param", "crop=64")


def _tasks(args: argparse.Namespace) -> int:
    from wemd.leaderboard import tasks

    all_tasks = tasks()
    if args.json:
        print(json.dumps({k: t.describe() for k, t in all_tasks.items()}, indent=2, default=str))
        return 0
    width = max(map(len, all_tasks))
    for name, t in all_tasks.items():
        n = t.n_default if t.n_default is not None else "all"
        data = f"{t.dataset}/{t.split}"
        print(f"{name:<{width}}  {data:<30}  n={n!s:<6} {','.join(t.metrics):<15} "
              f"v{t.protocol_version}  {t.title}")
    return 0


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
    from wemd.files import write_json
    from wemd.baselines import run_baseline
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


def _submit(args: argparse.Namespace) -> int:
    from wemd.leaderboard import Board, read_record

    board = Board(args.board)
    for path in args.records:
        print(f"submitted: {board.submit(read_record(path), root=args.root)}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from wemd.leaderboard import Board

    board = Board(args.board)
    names = [args.name] if args.name else sorted({r["task"] for r in board.entries()})
    if not names:
        print(f"The board at {board.path} has no entries yet.")
    print("\n\n".join(board.table(n) for n in names))
    return 0


def _render(args: argparse.Namespace) -> int:
    from wemd.leaderboard import Board, render

    for path in render(args.outdir, Board(args.board)):
        print(path)
    return 0


def _schema(args: argparse.Namespace) -> int:
    from wemd.leaderboard import SCHEMA

    print(json.dumps(SCHEMA, indent=2))
    return 0
