"""``wemd quickstart``: the whole package in minutes on the synthetic mini-WEMD.

Builds (or reuses) the stand-in of every dataset, summarises it, runs every fast classical
baseline on every benchmark task's instances (small ``n``), evaluates and submits them to a board
in the output folder, renders the leaderboard page and a figure of examples from every dataset,
and says where all of it is. Everything it writes is marked synthetic.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from wemd import catalog
from wemd.home import PathLike, data_home

#: Instances per task in the quickstart: enough to exercise the evaluator, small enough for minutes.
DEFAULT_N = 2
#: Baselines costing seconds per 512x512 instance (scattered-data interpolation): the quickstart
#: runs them on the first task of their family only, with one instance (``all_methods`` lifts it).
EXPENSIVE = {"stem_completion": ("linear", "cubic")}


@dataclass
class QuickstartResult:
    """Where the quickstart put things, and what it measured."""

    data: Path
    out: Path
    datasets: list[dict[str, Any]]
    scores: list[dict[str, Any]] = field(default_factory=list)
    figure: Optional[Path] = None
    leaderboard: Optional[Path] = None
    board: Optional[Path] = None
    seconds: dict[str, float] = field(default_factory=dict)


def default_out(root: Optional[PathLike] = None, scale: str = "small", seed: int = 0) -> Path:
    """``{data_home}/quickstart/{scale}-{seed}``."""
    return data_home(root) / "quickstart" / f"{scale}-{int(seed)}"


def dataset_summary(base: PathLike) -> list[dict[str, Any]]:
    """Every dataset under ``base``: splits, item shape, dtype, bytes and the fingerprint of all
    its items (provenance-prefixed, so it says 'synthetic:')."""
    import warnings

    from wemd.api import load
    from wemd.synthetic import describe

    rows = describe(base)
    for row in rows:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row["fingerprint"] = load(row["name"], "all", root=base).fingerprint()
    return rows


def format_summary(rows: Sequence[dict[str, Any]]) -> str:
    """A terminal table of :func:`dataset_summary` rows, printed from a pandas frame."""
    import pandas as pd

    frame = pd.DataFrame({
        "dataset": [r["name"] for r in rows],
        "provenance": [r["provenance"] for r in rows],
        "splits (train/val/test or all)": ["/".join(str(r["splits"].get(s, 0))
                                                    for s in catalog.get(r["name"]).splits) for r in rows],
        "item": ["x".join(map(str, r["item_shape"])) if r["item_shape"] else "varied" for r in rows],
        "MB": [round(r["bytes"] / 1e6, 1) for r in rows],
        "fingerprint": [r["fingerprint"][:26] for r in rows]})
    return frame.to_string(index=False, justify="left")


def run_baselines(board_path: PathLike, *, root: Optional[PathLike], scale: str, seed: int,
                  n: int, tasks: Optional[Sequence[str]] = None, all_methods: bool = False,
                  progress: bool = False, echo: Callable[[str], None] = print
                  ) -> list[dict[str, Any]]:
    """Every classical baseline not marked slow on every task (or ``tasks``), ``n`` instances
    each, submitted to a board; :data:`EXPENSIVE` ones only on their family's first task."""
    from wemd import leaderboard as lb
    from wemd.baselines import run_baseline
    from wemd.baselines.classical import methods
    from wemd.synthetic import load_synthetic

    board = lb.Board(board_path)
    chosen = lb.tasks() if tasks is None else {t: lb.get_task(t) for t in tasks}
    scores: list[dict[str, Any]] = []
    families_seen: set[str] = set()
    for task in chosen.values():
        ds = load_synthetic(task.dataset, task.split, root=root, scale=scale, seed=seed,
                            progress=progress)
        count = min(n, task.n_instances(ds, None))
        first_of_family = task.family not in families_seen
        families_seen.add(task.family)
        dfp = ds.fingerprint()
        done = {(e["method"]["name"], e["data"]["instances_fingerprint"]): e
                for e in board.entries(task.name)}
        for name, method in methods(task.family).items():
            expensive = name in EXPENSIVE.get(task.family, ()) and not all_methods
            if method.slow or (expensive and not first_of_family):
                continue
            started = time.perf_counter()
            k = 1 if expensive else count
            record = done.get((name, task.fingerprint(ds, k, dataset_fingerprint=dfp)))
            if record is None:  # not on this board yet (a re-run reuses the stored result)
                record = run_baseline(task, name, source="synthetic", ds=ds, n=k,
                                      progress=progress)
                board.submit(record, ds=ds)
            metric = record["metrics"][task.primary]
            scores.append({"task": task.name, "method": name, "metric": task.primary,
                           "mean": metric["mean"], "n": record["data"]["n"],
                           "provenance": record["data"]["provenance"],
                           "seconds": round(time.perf_counter() - started, 2)})
        ran = [s for s in scores if s["task"] == task.name]
        best = [s for s in ran if s["n"] == count] or ran  # rank only runs on the same instances
        if best:
            pick = (min if task.lower_is_better else max)(best, key=lambda s: s["mean"])
            echo(f"  {task.name:<34} best {pick['method']:<14} {task.primary} = "
                 f"{pick['mean']:.4g}  (n = {pick['n']}, synthetic)")
    return scores


def show_board_command(board: PathLike) -> str:
    """The shell command that prints a board's tables (the default board is another one)."""
    return f"wemd leaderboard show --board {shlex.quote(str(Path(board).resolve()))}"


def quickstart(out: Optional[PathLike] = None, *, root: Optional[PathLike] = None,
               scale: str = "small", seed: int = 0, n: int = DEFAULT_N,
               tasks: Optional[Sequence[str]] = None, all_methods: bool = False,
               workers: Optional[int] = None, progress: bool = True,
               echo: Callable[[str], None] = print) -> QuickstartResult:
    """Run the quickstart; ``out`` holds the board, the leaderboard page, the figure and a JSON
    summary (default :func:`default_out`); the data is the cached stand-in of ``scale``/``seed``."""
    from wemd.files import write_json
    from wemd.synthetic import build, synthetic_root
    from wemd.viz.examples import example_figure

    out = Path(out) if out is not None else default_out(root, scale, seed)
    out.mkdir(parents=True, exist_ok=True)
    base = synthetic_root(root, scale, seed)
    clock = time.perf_counter()
    seconds: dict[str, float] = {}
    echo(f"wemd quickstart: synthetic mini-WEMD, scale {scale!r}, seed {seed} "
         "(simulated stand-in, not the real data)")
    build(root=root, scale=scale, seed=seed, workers=workers, progress=progress)
    seconds["data"] = round(time.perf_counter() - clock, 1)
    rows = dataset_summary(base)
    result = QuickstartResult(data=base, out=out, datasets=rows, seconds=seconds)
    echo(f"\nDatasets ({seconds['data']} s to build or reuse) in {base}:")
    echo(format_summary(rows))

    echo(f"\nClassical baselines on the benchmark tasks (n = {n} instances each, synthetic data):")
    clock = time.perf_counter()
    result.board = out / "board"
    result.scores = run_baselines(result.board, root=root, scale=scale, seed=seed, n=n,
                                  tasks=tasks, all_methods=all_methods, echo=echo)
    seconds["baselines"] = round(time.perf_counter() - clock, 1)

    from wemd import leaderboard as lb

    clock = time.perf_counter()
    page_dir = out / "leaderboard"
    lb.render(page_dir, lb.Board(result.board))
    result.leaderboard = page_dir / "index.html"
    result.figure = example_figure(base, out / "examples.png")
    seconds["render"] = round(time.perf_counter() - clock, 1)
    write_json(out / "quickstart.json", {
        "provenance": "synthetic", "scale": scale, "seed": seed, "data": str(base),
        "datasets": rows, "scores": result.scores, "seconds": seconds,
        "figure": str(result.figure), "leaderboard": str(result.leaderboard),
        "board": str(result.board)})
    echo("\nWhere everything is:")
    echo(f"  data (synthetic)   {base}")
    echo(f"  leaderboard page   {result.leaderboard}")
    echo(f"  board entries      {result.board}")
    echo(f"  see the board      {show_board_command(result.board)}")
    echo(f"  example figure     {result.figure}")
    echo(f"  summary JSON       {out / 'quickstart.json'}")
    echo(f"Load it yourself: wemd.load('stem_crops', 'test', source='synthetic', scale={scale!r}, "
         f"seed={seed})")
    return result
