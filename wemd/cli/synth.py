"""``wemd synth`` (build the synthetic mini-WEMD) and ``wemd quickstart`` (the main demo)."""

from __future__ import annotations

import argparse

from wemd.cli._args import DEFAULT_SCALE, DEFAULT_SYNTH_SEED, add_scale


def _common(p: argparse.ArgumentParser) -> None:
    add_scale(p, "how much to build", DEFAULT_SCALE)
    p.add_argument("--seed", "--synth-seed", dest="seed", type=int, default=DEFAULT_SYNTH_SEED,
                   help="same seed, same bytes")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: up to 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="build the synthetic mini-WEMD (every dataset, real layouts)",
                       description="Simulate a small stand-in of every dataset in the exact real "
                                   "layouts, marked provenance 'synthetic'. Without --out it goes "
                                   "to the cache used by wemd.load(..., source='synthetic').")
    p.add_argument("--out", default=None, help="data home to write {name}/ folders into")
    p.add_argument("--only", nargs="+", metavar="NAME", default=None,
                   help="build only these datasets (and what they derive from)")
    _common(p)
    p.set_defaults(func=synth_command)

    q = sub.add_parser("quickstart", help="build/reuse the mini data, run the classical baselines, "
                                          "render the leaderboard and an example figure",
                       description="The whole package in minutes on synthetic data: dataset "
                                   "summary, classical baselines on every benchmark task, "
                                   "evaluation, board, leaderboard page and example figure.")
    q.add_argument("--out", default=None,
                   help="folder for the board, pages and figure (default: {data home}/quickstart/"
                        "{scale}-{seed})")
    q.add_argument("-n", type=int, default=None, help="instances per task (default: 2)")
    q.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                   help="only these benchmark tasks (default: all)")
    q.add_argument("--all-methods", action="store_true",
                   help="also run the interpolating completion baselines (seconds per instance) "
                        "on every task, not just the first of their family")
    _common(q)
    q.set_defaults(func=quickstart_command)


def synth_command(args: argparse.Namespace) -> int:
    import time

    from wemd.quickstart import dataset_summary, format_summary
    from wemd.synthetic import build, synthetic_root

    start = time.perf_counter()
    folders = build(args.only, out=args.out, scale=args.scale, seed=args.seed,
                    workers=args.workers, progress=not args.quiet)
    base = next(iter(folders.values())).parent if folders else synthetic_root(None, args.scale,
                                                                             args.seed)
    print(f"Synthetic mini-WEMD (scale {args.scale}, seed {args.seed}) ready in "
          f"{time.perf_counter() - start:.1f} s at {base}")
    rows = [r for r in dataset_summary(base) if r["name"] in folders]
    print(format_summary(rows))
    how = (f"root={str(base)!r}" if args.out else
           f"source='synthetic', scale={args.scale!r}, seed={args.seed}")
    print(f"Load with wemd.load(NAME, SPLIT, {how}); every item reports provenance 'synthetic'.")
    return 0


def quickstart_command(args: argparse.Namespace) -> int:
    from wemd.quickstart import DEFAULT_N, quickstart

    quickstart(args.out, scale=args.scale, seed=args.seed, n=args.n or DEFAULT_N,
               tasks=args.tasks, all_methods=args.all_methods, workers=args.workers,
               progress=not args.quiet)
    return 0
