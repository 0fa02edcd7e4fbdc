"""Evidence study for ALRC: the ALRC paper's supersampling toy (its Table 1), on stem_96x96.

As in the paper's CIFAR-10 experiment, random crops are flipped, z-scored, bilinearly
downsampled 2x and restored by a small network trained with Adam at a base learning rate of
1/1280, minimising mean squared or mean quartic error, with ALRC at 2, 3 or 4 running standard
deviations or without it (``None``). Each configuration is repeated; repeats r of every
configuration share the network initialisation and the data order (common random numbers), so
differences between thresholds come from clipping alone. ALRC's running moments start at the
mean and RMS of the first ``warmup`` batch losses (every run is unclipped until then): the paper
starts them at fixed values above the losses, which is harmless over its 1e5 steps, but in runs
this short such bounds never come down to the loss scale (measured: not one example clipped in
800-step runs started at mu1 = 1, rms 1.5, decay 0.99). The statistic is the paper's: the mean
of the last ``tail`` raw training losses of each run, then mean and standard deviation over
repeats (x 100). A held-out error on fixed validation crops is reported beside it.

Runs are cached in ``<out>.runs.json`` as they finish, so an interrupted study resumes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from wemd.files import atomic_path, write_json, write_text
from wemd.errors import DataMissingError, WEMDError, require

__all__ = ["StudyConfig", "load_images", "plot_curves", "render_markdown", "run_one", "run_study",
           "summarize"]


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """What the study runs. The defaults finish in a few minutes on one CPU core."""

    dataset: str = "stem_96x96"
    source: str = "auto"                 # "auto": local data if present, else "synthetic"
    root: Optional[str] = None
    losses: tuple[str, ...] = ("squared", "quartic")
    batch_sizes: tuple[int, ...] = (1, 4)
    thresholds: tuple[Optional[float], ...] = (2.0, 3.0, 4.0, None)
    repeats: int = 3
    steps: int = 600
    tail: int = 150                      # final raw training losses averaged per run
    crop: int = 32                       # 32 -> 16 -> 32, the paper's CIFAR-10 sizes
    width: int = 8
    lr: float = 1.0 / 1280.0
    decay: float = 0.99                  # a 100-step memory: short runs need faster moments
    warmup: int = 50                     # unclipped steps whose batch losses start ALRC's moments
    train_images: int = 512
    val_images: int = 64
    seed: int = 0

    def runs(self) -> list[dict[str, Any]]:
        """Every (loss, batch size, threshold, repeat) in a fixed order."""
        return [{"loss": loss, "batch_size": bs, "threshold": th, "repeat": r}
                for loss in self.losses for bs in self.batch_sizes
                for th in self.thresholds for r in range(self.repeats)]


def _run_key(run: dict[str, Any]) -> str:
    th = "none" if run["threshold"] is None else f"{run['threshold']:g}"
    return f"{run['loss']}|bs{run['batch_size']}|n{th}|r{run['repeat']}"


def load_images(cfg: StudyConfig) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(train images, val images, provenance, fingerprint) as float32 [N, H, W] arrays."""
    import wemd

    sources = ["local", "synthetic"] if cfg.source == "auto" else [cfg.source]
    last: Optional[Exception] = None
    for source in sources:
        try:
            train = wemd.load(cfg.dataset, "train", root=cfg.root, source=source)
            val = wemd.load(cfg.dataset, "val", root=cfg.root, source=source)
        except DataMissingError as exc:
            last = exc
            continue
        nt, nv = min(len(train), cfg.train_images), min(len(val), cfg.val_images)
        if nt == 0 or nv == 0:
            raise WEMDError(f"{cfg.dataset} ({source}) has {len(train)} train and {len(val)} "
                            "val images; the study needs both.")
        tr = np.asarray(train[:nt], np.float32).reshape(nt, *train.spec.item_shape[:2])
        va = np.asarray(val[:nv], np.float32).reshape(nv, *val.spec.item_shape[:2])
        return tr, va, train.provenance, train.fingerprint()
    raise WEMDError(f"No {cfg.dataset} data for the ALRC study: {last}")


def _zscore(x: Any) -> Any:
    mean = x.mean(dim=(-2, -1), keepdim=True)
    std = x.std(dim=(-2, -1), keepdim=True)
    return (x - mean) / (std + 1e-6)


def _pairs(torch: Any, crops: Any) -> tuple[Any, Any]:
    """Z-scored crops [B,1,H,W] -> (2x bilinear-downsampled input, full-size target)."""
    target = _zscore(crops)
    low = torch.nn.functional.interpolate(target, scale_factor=0.5, mode="bilinear",
                                          align_corners=False, antialias=True)
    return low, target


def _loss(kind: str, pred: Any, target: Any) -> Any:
    err = (pred - target).flatten(1)
    return (err ** 2).mean(1) if kind == "squared" else (err ** 4).mean(1)


def run_one(cfg: StudyConfig, run: dict[str, Any], train: np.ndarray, val: np.ndarray,
            device: str = "cpu") -> dict[str, Any]:
    """Train one configuration; returns its raw loss curve and summary numbers."""
    torch = require("torch", "torch")
    from wemd.baselines.alrc import ALRC
    from wemd.baselines.models import Supersampler
    from wemd.baselines.training import resolve_device

    device = resolve_device(device)
    seed = cfg.seed * 1_000_003 + run["repeat"] * 1009 + run["batch_size"]
    torch.manual_seed(seed)
    model = Supersampler(scale=2, width=cfg.width).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    clip = None
    warm: list[float] = []
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(train)
    h, w = train.shape[1:]
    bs, c = run["batch_size"], cfg.crop
    curve = np.empty(cfg.steps, np.float64)
    clipped = 0
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        idx = rng.integers(0, len(train), bs)
        ys, xs = rng.integers(0, h - c + 1, bs), rng.integers(0, w - c + 1, bs)
        flips = rng.random(bs) < 0.5
        crops = torch.stack([images[i, y:y + c, x:x + c] for i, y, x in zip(idx, ys, xs)])
        crops = torch.where(torch.from_numpy(flips)[:, None, None], crops.flip(-1), crops)
        low, target = _pairs(torch, crops[:, None].to(device))
        losses = _loss(run["loss"], model(low), target)
        if step < cfg.warmup:
            warm.append(float(losses.detach().mean()))
        elif clip is None and run["threshold"] is not None:
            clip = ALRC.from_losses(warm, n_max=run["threshold"], decay=cfg.decay).to(device)
        if clip is not None:
            high = clip.bounds()[1]
            clipped += int((losses.detach() > high).sum())
            loss = clip(losses)
        else:
            loss = losses.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        curve[step] = float(loss.detach())
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        model.eval()
        vc = (val.shape[1] - c) // 2
        low, target = _pairs(torch, torch.from_numpy(val[:, None, vc:vc + c, vc:vc + c]).to(device))
        val_err = float(_loss(run["loss"], model(low), target).mean())
    finite = np.isfinite(curve[-cfg.tail:])
    return dict(run, key=_run_key(run), tail_mean=float(np.mean(curve[-cfg.tail:][finite]))
                if finite.any() else float("nan"), val_error=val_err, clipped=clipped,
                steps=cfg.steps, seconds=seconds, curve=curve.tolist())


def run_study(cfg: StudyConfig, out: Path, device: str = "cpu",
              progress: bool = True) -> dict[str, Any]:
    """Run (or resume) every configuration, then write the table, curves PNG and JSON."""
    from tqdm.auto import tqdm

    out = Path(out)
    cache_path = out.with_name(out.name + ".runs.json")
    cache = _read_cache(cache_path, cfg)
    train, val, provenance, fingerprint = load_images(cfg)
    todo = [r for r in cfg.runs() if _run_key(r) not in cache["runs"]]
    for run in tqdm(todo, desc="ALRC study", unit="run", disable=not progress):
        cache["runs"][_run_key(run)] = run_one(cfg, run, train, val, device)
        write_json(cache_path, cache)
    study = {"config": dataclasses.asdict(cfg), "provenance": provenance,
             "images": {"train": len(train), "val": len(val)},
             "fingerprint": fingerprint, "device": str(device),
             "runs": [cache["runs"][_run_key(r)] for r in cfg.runs()]}
    study["table"] = summarize(study["runs"], cfg)
    png = out.with_suffix(".png")
    plot_curves(study, png)
    write_text(out, render_markdown(study, png.name))
    write_json(out.with_suffix(".json"), study)
    return study


def _read_cache(path: Path, cfg: StudyConfig) -> dict[str, Any]:
    fresh = {"config": json.loads(json.dumps(dataclasses.asdict(cfg))), "runs": {}}
    if not path.exists():
        return fresh
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        return fresh
    return cache if cache.get("config") == fresh["config"] else fresh


def _select(items: Sequence[dict[str, Any]], loss: str, bs: int, th: Optional[float]) -> list[dict[str, Any]]:
    """The runs (or table rows) of one (loss, batch size, threshold) configuration."""
    return [r for r in items if (r["loss"], r["batch_size"], r["threshold"]) == (loss, bs, th)]


def summarize(runs: Sequence[dict[str, Any]], cfg: StudyConfig) -> list[dict[str, Any]]:
    """Rows (loss, batch size, threshold) with mean and std over repeats, errors x 100."""
    rows = []
    for loss in cfg.losses:
        for bs in cfg.batch_sizes:
            for th in cfg.thresholds:
                sel = _select(runs, loss, bs, th)
                tail = 100 * np.array([r["tail_mean"] for r in sel])
                valv = 100 * np.array([r["val_error"] for r in sel])
                rows.append({"loss": loss, "batch_size": bs, "threshold": th, "n": len(sel),
                             "tail_mean": float(tail.mean()), "tail_std": float(tail.std(ddof=1))
                             if len(sel) > 1 else float("nan"),
                             "val_mean": float(valv.mean()), "val_std": float(valv.std(ddof=1))
                             if len(sel) > 1 else float("nan"),
                             "clipped": int(sum(r["clipped"] for r in sel))})
    return rows


def _fmt(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.3f}"


def render_markdown(study: dict[str, Any], png_name: str) -> str:
    """The study's report: provenance, protocol, one table per loss like the paper's Table 1."""
    cfg = study["config"]
    rows = study["table"]
    synthetic = study["provenance"] != "real"
    lines = [f"# ALRC evidence study: 2x supersampling of {cfg['dataset']}", ""]
    if synthetic:
        lines += [f"**Data provenance: {study['provenance']}.** These numbers were computed on a "
                  "stand-in, not on the published data; they test the method, not the paper.", ""]
    lines += [f"Data fingerprint: `{study['fingerprint']}`; device: {study['device']}.", "",
              f"Protocol: {study['images']['train']} training images, random {cfg['crop']}x{cfg['crop']} "
              f"crops, left-right flips, z-scored, bilinear 2x downsampling; supersampler width "
              f"{cfg['width']}; Adam, lr {cfg['lr']:.6g}, {cfg['steps']} steps; ALRC decay "
              f"{cfg['decay']}, moments started from the first {cfg['warmup']} (unclipped) batch "
              f"losses. Cells: mean and std "
              f"over {cfg['repeats']} repeats of the mean of the last {cfg['tail']} raw training "
              f"losses (x 100), as in the paper's Table 1; `val` is the error on "
              f"{study['images']['val']} fixed validation crops after training (x 100); `clipped` "
              "counts examples whose gradient ALRC scaled down.", ""]
    for loss in cfg["losses"]:
        lines += [f"## {loss.capitalize()} errors", ""]
        header = "| threshold |"
        rule = "|---|"
        for bs in cfg["batch_sizes"]:
            header += f" bs {bs} train | std | val | std | clipped |"
            rule += "---|---|---|---|---|"
        lines += [header, rule]
        for th in cfg["thresholds"]:
            cells = ["inf (no ALRC)" if th is None else f"{th:g}"]
            for bs in cfg["batch_sizes"]:
                row = _select(rows, loss, bs, th)[0]
                cells += [_fmt(row["tail_mean"]), _fmt(row["tail_std"]), _fmt(row["val_mean"]),
                          _fmt(row["val_std"]), str(row["clipped"])]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Paper (CIFAR-10, 1e5 steps, 10 repeats, x 100): quartic, batch 1: 3.54 / 3.59 / 3.61 "
              "at n = 2 / 3 / 4 vs 3.88 without ALRC; squared errors unchanged (5.55 / 5.52 / 5.56 "
              "vs 5.55).", "", f"![learning curves]({png_name})", ""]
    return "\n".join(lines)


def plot_curves(study: dict[str, Any], path: Path) -> Path:
    """Learning curves (moving average of raw training loss, mean over repeats) per panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = study["config"]
    losses, sizes = cfg["losses"], cfg["batch_sizes"]
    fig, axes = plt.subplots(len(losses), len(sizes), figsize=(4.5 * len(sizes), 3.4 * len(losses)),
                             squeeze=False)
    window = max(1, cfg["steps"] // 40)
    kernel = np.ones(window) / window
    for i, loss in enumerate(losses):
        for j, bs in enumerate(sizes):
            ax = axes[i][j]
            for th in cfg["thresholds"]:
                curves = np.array([r["curve"] for r in _select(study["runs"], loss, bs, th)])
                mean = np.convolve(np.nanmean(curves, axis=0), kernel, mode="valid")
                ax.plot(np.arange(mean.size) + window, mean,
                        label="no ALRC" if th is None else f"ALRC n={th:g}", lw=1)
            ax.set_yscale("log")
            ax.set_title(f"{loss} error, batch {bs}")
            ax.set_xlabel("step")
            ax.set_ylabel("training loss")
            ax.legend(fontsize=7)
    tag = "" if study["provenance"] == "real" else f" [{study['provenance']} data]"
    fig.suptitle(f"ALRC study on {cfg['dataset']}{tag}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
