"""Sub-commands for the learned baselines: ``train``, ``export-model`` and the ALRC study."""

from __future__ import annotations

import argparse
import json

from wemd.cli._args import add_data_options, key_values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a reference network on a task (>= 3 seeds), "
                                     "predict its instances, score them and write a result record")
    p.add_argument("task", help="task name (see `wemd tasks`)")
    p.add_argument("--model", default=None, help="network (default: the task family's reference: "
                   "atrous-denoiser, partial-scan, supersampler or phase-recovery)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="training seeds, one network each (a record needs >= 3)")
    p.add_argument("--steps", type=int, default=1000, help="training steps per seed")
    p.add_argument("--batch-size", type=int, default=8, help="training crops per step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (decayed over the run)")
    p.add_argument("--width", type=int, default=16, help="network width (32-64 on a GPU)")
    p.add_argument("--train-crop", type=int, default=96,
                   help="train on crops this size (0: the task's crop); prediction is full size")
    p.add_argument("--no-alrc", action="store_true", help="train without adaptive LR clipping")
    p.add_argument("--alrc-n", type=float, default=3.0, help="ALRC: standard deviations (n_max)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a task protocol parameter (non-standard, flagged), e.g. crop=96")
    p.add_argument("--n", type=int, default=None, help="number of test instances (default: the task's)")
    add_data_options(p)
    p.add_argument("--out", default=None, help="output folder (default: wemd-runs/TASK-MODEL)")
    p.add_argument("--keep-predictions", action="store_true",
                   help="also store each seed's predictions (.npy) for `wemd evaluate`")
    _device_args(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("export-model", help="package one seed of a `wemd train` run as pretrained "
                                            "weights with a model card (a mirror folder)")
    p.add_argument("run", help="the run folder of `wemd train` (holds record.json)")
    p.add_argument("name", help="name to load it by, e.g. atrous-tem-low-dose")
    p.add_argument("--out", default="pretrained", help="mirror folder: serve as <mirror>/pretrained/")
    p.add_argument("--seed", type=int, default=None, help="seed to release (default: the first)")
    p.add_argument("--onnx", action="store_true",
                   help="write NAME.onnx instead: the network on the task's named inputs, as a "
                        "board server re-runs it (`wemd leaderboard submit --model`)")
    p.add_argument("--root", default=None,
                   help="--onnx: data home of the run's data (example inputs and the check)")
    p.set_defaults(func=_export)

    p = sub.add_parser("alrc-study", help="ALRC evidence study (the ALRC paper's Table 1 on "
                                          "stem_96x96); also `wemd baseline alrc-study`")
    _study_args(p)
    if "baseline" in sub.choices:  # the leaderboard's `baseline` group: add ours to it
        register_baseline_subcommands(_subparsers_of(sub.choices["baseline"]))


def register_baseline_subcommands(baseline_sub: argparse._SubParsersAction) -> None:
    """Add ``alrc-study`` to a ``wemd baseline`` sub-command group."""
    _study_args(baseline_sub.add_parser("alrc-study", help="ALRC evidence study on stem_96x96"))


def _subparsers_of(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="baseline_command", metavar="COMMAND")


def _device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (1 is fastest for small networks on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _study_args(p: argparse.ArgumentParser) -> None:
    from_defaults = "(default: %(default)s)"
    p.add_argument("--out", default="alrc.md", help=f"Markdown report; .png/.json beside it {from_defaults}")
    p.add_argument("--dataset", default="stem_96x96")
    add_data_options(p, ("auto", "local", "synthetic"), "auto", "; auto: local data, else synthetic")
    p.add_argument("--losses", nargs="+", default=["squared", "quartic"], choices=["squared", "quartic"])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    p.add_argument("--thresholds", nargs="+", default=["2", "3", "4", "none"],
                   help="ALRC n values; 'none' trains without ALRC")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--tail", type=int, default=None, help="final training losses averaged per run")
    _device_args(p)
    p.set_defaults(func=_study, threads=1)


def _setup_torch(args: argparse.Namespace) -> None:
    from wemd.errors import require

    torch = require("torch", "torch")
    if args.threads:
        torch.set_num_threads(args.threads)


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wemd.baselines.training import TrainConfig, train

    _setup_torch(args)
    cfg = TrainConfig(task=args.task, model=args.model, seeds=tuple(args.seeds), steps=args.steps,
                      batch_size=args.batch_size, lr=args.lr, width=args.width,
                      train_crop=args.train_crop or None, alrc=not args.no_alrc,
                      alrc_n=args.alrc_n, overrides=tuple(key_values(args.param, "--param", "crop=96").items()),
                      n=args.n, source=args.source, root=args.root)
    out = Path(args.out or f"wemd-runs/{cfg.task}-{cfg.model_name()}")
    record = train(cfg, out, device=args.device, progress=not args.quiet,
                   keep_predictions=args.keep_predictions)
    if record is None:
        for seed in cfg.seeds:
            scores = json.loads((out / f"seed{seed}" / "eval.json").read_text())["metrics"]
            print(f"seed {seed}: " + ", ".join(f"{m} {v['mean']:.4g}" for m, v in scores.items()))
        print(f"No result record: a learned method needs >= 3 seeds. Run again with all seeds "
              f"(e.g. --seeds 0 1 2) and the same --out {out}; trained seeds are reused.")
        return 0
    data = record["data"]
    if data["provenance"] != "real":
        print(f"NOTE: {data['provenance']} data - not a result on the published data.")
    print(f"{record['task']} / {record['method']['name']} ({len(record['runs'])} seeds, "
          f"n = {data['n']}{'' if data['standard'] else ', non-standard'}):")
    for metric, stats in record["metrics"].items():
        per_seed = ", ".join(f"{r['metrics'][metric]['mean']:.4g}" for r in record["runs"])
        print(f"  {metric}: {stats['mean']:.4g} +- {stats['std']:.3g} over seeds ({per_seed})")
    print(f"record: {out / 'record.json'}")
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.onnx:
        from wemd.baselines.onnx_export import export_onnx

        info = export_onnx(args.run, args.name, args.out, seed=args.seed, root=args.root)
        print(f"{info['path']} (sha256 {info['sha256']}): {info['task']} seed {info['seed']}, "
              f"inputs {', '.join(info['inputs'])}; onnxruntime matches torch to "
              f"{info['max_difference']:.2g}")
        if info["provenance"] != "real":
            print(f"NOTE: trained on {info['provenance']} data.")
        return 0
    from wemd.baselines.pretrained import export_pretrained

    entry = export_pretrained(args.run, args.name, args.out, seed=args.seed)
    print(f"{entry.name}: {args.out}/{entry.file} (sha256 {entry.sha256}), card {args.out}/{entry.card}")
    if entry.provenance != "real":
        print(f"NOTE: trained on {entry.provenance} data.")
    return 0


def _study(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from wemd.baselines.alrc_study import StudyConfig, run_study
    from wemd.errors import WEMDError

    _setup_torch(args)
    try:
        thresholds = tuple(None if t.lower() in ("none", "inf") else float(t) for t in args.thresholds)
    except ValueError as exc:
        raise WEMDError(f"--thresholds takes numbers or 'none': {exc}") from None
    given = {"repeats": args.repeats, "steps": args.steps, "tail": args.tail}
    cfg = StudyConfig(dataset=args.dataset, source=args.source, root=args.root,
                      losses=tuple(args.losses), batch_sizes=tuple(args.batch_sizes),
                      thresholds=thresholds, **{k: v for k, v in given.items() if v is not None})
    cfg = dataclasses.replace(cfg, tail=min(cfg.tail, cfg.steps))
    study = run_study(cfg, Path(args.out), device=args.device, progress=not args.quiet)
    print(Path(args.out).read_text())
    if study["provenance"] != "real":
        print(f"NOTE: computed on {study['provenance']} data.")
    return 0
