"""Train a reference network on a task, predict the task's fixed instances, score, record.

Training instances come from the task's own instance generator applied to the TRAINING data
(the train split of the task's dataset; the first part of an unshuffled ``all`` split; for phase
tasks the training wavefunctions of the same physics), with RNG streams disjoint from the test
instances, so the network sees exactly the preprocessing it is scored on. Fully convolutional
networks train on instances generated at ``train_crop`` and predict at the task's size.

Per seed, ``{out}/seed{s}/`` holds ``checkpoint.pt`` (model, optimiser, schedule, ALRC state;
training resumes from it), ``model.pt`` (weights and the config to rebuild the network),
``eval.json`` (scores, streamed through the leaderboard's Scorer) and, when asked for,
``predictions.npy`` with ``instance_ids.json`` (what ``wemd evaluate`` takes).
``{out}/record.json`` is the result record over all seeds (mean +- std over seeds).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from wemd.files import atomic_path, write_json
from wemd.errors import WEMDError, require

__all__ = ["DEFAULT_MODEL", "TrainConfig", "TrainingError", "build_from_checkpoint", "predict",
           "resolve_device", "score", "train", "train_seed"]

#: the reference network of each task family
DEFAULT_MODEL = {"tem_denoise": "atrous-denoiser", "stem_completion": "partial-scan",
                 "stem_adaptive": "partial-scan", "stem_supersample": "supersampler",
                 "phase": "phase-recovery"}


class TrainingError(WEMDError, ValueError):
    """A training request that cannot work (wrong model for the task, no device, no data)."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; stored in every checkpoint."""

    task: str
    model: Optional[str] = None          # default: the family's reference network
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    width: int = 16
    train_crop: Optional[int] = 96       # None: train at the task's crop
    alrc: bool = True
    alrc_n: float = 3.0
    overrides: tuple[tuple[str, Any], ...] = ()   # task protocol overrides (non-standard)
    n: Optional[int] = None              # test instances (None: the task's default)
    source: str = "local"
    root: Optional[str] = None
    checkpoint_every: int = 200

    def task_obj(self) -> Any:
        from wemd.leaderboard.tasks import get_task

        return get_task(self.task, **dict(self.overrides))

    def model_name(self) -> str:
        return self.model or DEFAULT_MODEL[self.task_obj().family]

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


# -- tensors in, predictions out ---------------------------------------------------------------
def _channels_first(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float32)
    return a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)


def model_input(family: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """An instance's named inputs as one [C, H, W] float32 array for the family's network."""
    if family in ("stem_completion", "stem_adaptive"):
        return np.stack([np.asarray(inputs["samples"], np.float32),
                         np.asarray(inputs["mask"], np.float32)])
    key = {"tem_denoise": "noisy", "stem_supersample": "low_res", "phase": "amplitude"}[family]
    return _channels_first(inputs[key])


def to_prediction(family: str, out: np.ndarray) -> np.ndarray:
    """A network output [C, H, W] as the task's prediction ([H, W], or [H, W, 2] for phase)."""
    return np.moveaxis(out, 0, -1) if family == "phase" else out[0]


def _check_model(family: str, model: str) -> None:
    from wemd.baselines.models import MODELS

    if model not in MODELS:
        raise TrainingError(f"Unknown model {model!r}; choose one of {', '.join(MODELS)}.")
    if DEFAULT_MODEL[family] != model:
        raise TrainingError(f"Model {model!r} does not fit {family} tasks: use "
                            f"{DEFAULT_MODEL[family]!r} (or leave --model out).")


# -- training data ------------------------------------------------------------------------------
def training_items(task: Any, source: str, root: Any) -> tuple[Any, np.ndarray]:
    """The dataset object and item positions a task's network may train on (never its test items)."""
    import wemd
    from wemd.leaderboard.tasks import get_task

    if task.family == "phase":
        physics = task.name[len("phase_"):].rsplit("_", 1)[0]
        ds = get_task(f"phase_{physics}_transforms").open(source=source, root=root)
        return ds, np.arange(len(ds))
    if task.split == "all" and task.subset is not None:
        ds = task.open(source=source, root=root)
        test = task.item_positions(ds)
        return ds, np.setdiff1d(np.arange(len(ds)), test)
    if "train" not in wemd.spec(task.dataset).splits:
        raise TrainingError(f"{task.dataset} has no train split to train {task.name} on.")
    ds = wemd.load(task.dataset, "train", source=source, root=root)
    return ds, np.arange(len(ds))


def _train_params(task: Any, train_crop: Optional[int]) -> dict[str, Any]:
    """The task's parameters with the crop (and the low-res size, in proportion) for training.

    Instances are generated at the training size, so min-max scaling acts per training crop, a
    contrast augmentation. (Patches cut from full-size instances, which match the scored
    statistics exactly, denoised the synthetic TEM test set twice as badly: measured.)
    """
    params = dict(task.params)
    if train_crop is None or "crop" not in params:
        return params
    crop = min(int(train_crop), int(params["crop"]))
    if "low_res" in params:
        params["low_res"] = max(2, int(round(crop * params["low_res"] / params["crop"])))
    params["crop"] = crop
    return params


def binning_window(item: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
    """A random even-aligned (2 crop)^2 window of a full-size TEM image.

    The TEM generator bins 2x, then crops; min-max scaling comes after the crop. Binning this
    window gives exactly a random crop of the binned image, at 1/50 of the cost of binning a
    2048^2 image for every 96^2 training crop.
    """
    h, w = (item.shape[0] // 2) * 2, (item.shape[1] // 2) * 2
    size = 2 * crop
    if h < size or w < size:
        return item  # the generator raises its own error naming the sizes
    y = 2 * int(rng.integers(0, (h - size) // 2 + 1))
    x = 2 * int(rng.integers(0, (w - size) // 2 + 1))
    return item[y:y + size, x:x + size]


class _Batches:
    """Training batches drawn with RNG streams keyed by (seed, step): resuming is exact."""

    TAG = 0x7EA1  # keeps training streams apart from the test instances' SeedSequence([seed, i])

    def __init__(self, task: Any, ds: Any, positions: np.ndarray, params: dict[str, Any],
                 batch_size: int, seed: int):
        from wemd.leaderboard.instances import GENERATORS

        if len(positions) == 0:
            raise TrainingError(f"No training items for {task.name} in {ds.name}/{ds.split}.")
        self.generate = GENERATORS[task.family]
        self.family, self.ds, self.positions = task.family, ds, positions
        self.params, self.batch_size, self.seed = params, batch_size, seed
        self.item = lru_cache(maxsize=16)(self._item)  # full-size TEM items are 16 MB each

    def _item(self, pos: int) -> tuple[Any, dict[str, Any]]:
        meta = self.ds.metadata(pos) if self.family == "phase" else {}
        return self.ds[pos], meta

    def __call__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(np.random.SeedSequence([self.TAG, self.seed, step]))
        xs, ys = [], []
        for pos in rng.choice(self.positions, self.batch_size):
            item, meta = self.item(int(pos))
            if self.family == "tem_denoise":
                item = binning_window(item, self.params["crop"], rng)
            inst = self.generate(self.params, item, rng, meta)
            xs.append(model_input(self.family, inst.input))
            ys.append(_channels_first(inst.target))
        return np.stack(xs), np.stack(ys)


# -- the loop ----------------------------------------------------------------------------------
def resolve_device(name: str) -> Any:
    """A torch device, or a clear error when CUDA is asked for and absent."""
    torch = require("torch", "torch")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for but torch sees no CUDA GPU here; "
                            "use --device cpu, or install a CUDA build of torch.")
    return dev


def _forward(model: Any, x: Any, out_hw: Sequence[int]) -> Any:
    from wemd.baselines.models import Supersampler

    return model(x, size=tuple(out_hw)) if isinstance(model, Supersampler) else model(x)


def _lr_factor(steps: int) -> Callable[[int], float]:
    """Constant learning rate for half the steps, then linear decay to a tenth (as the papers)."""
    half = steps // 2

    def factor(step: int) -> float:
        return 1.0 if step < half else 1.0 - 0.9 * (step - half) / max(1, steps - half)

    return factor


def _alrc_decay(steps: int) -> float:
    """0.999 for long runs (the paper's 1e5 steps); shorter runs adapt over ~steps / 10."""
    return min(0.999, max(0.9, 1.0 - 10.0 / max(1, steps)))


def _alrc_warmup(steps: int) -> int:
    """Unclipped steps whose losses start ALRC's moments (see ``ALRC.from_losses``)."""
    return max(1, min(50, steps // 10))


def _identity(config: dict[str, Any]) -> dict[str, Any]:
    """The config keys that define one seed's training (seeds may be trained one at a time)."""
    return {k: v for k, v in config.items() if k not in ("seeds", "n", "checkpoint_every")}


def build_from_checkpoint(path: Path, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """A network and its config from a ``model.pt`` or ``checkpoint.pt`` file."""
    torch = require("torch", "torch")
    from wemd.baselines.models import build_model

    state = torch.load(path, map_location=device, weights_only=True)
    model = build_model(state["model_name"], **state["model_kwargs"])
    model.load_state_dict(state["model"])
    return model.to(device).eval(), state


def train_seed(cfg: TrainConfig, seed: int, out: Path, device: str = "cpu",
               progress: bool = True) -> Path:
    """Train (or resume) one seed; returns the path of its ``model.pt``."""
    torch = require("torch", "torch")
    from tqdm.auto import tqdm

    from wemd.baselines.alrc import ALRC
    from wemd.baselines.models import build_model

    dev = resolve_device(device)
    task = cfg.task_obj()
    name = cfg.model_name()
    _check_model(task.family, name)
    folder = Path(out) / f"seed{seed}"
    final = folder / "model.pt"
    ckpt_path = folder / "checkpoint.pt"
    kwargs = {"width": cfg.width}
    torch.manual_seed(seed)
    model = build_model(name, **kwargs).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(cfg.steps))
    decay, warmup = _alrc_decay(cfg.steps), _alrc_warmup(cfg.steps)
    clip: Optional[ALRC] = None
    warm: list[float] = []  # batch losses of the unclipped warm-up steps that start ALRC
    clipped = start = 0
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=dev, weights_only=True)
        if _identity(state.get("config", {})) == _identity(cfg.as_dict()):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            warm, clipped = list(state["alrc_warm"]), int(state["alrc_clipped"])
            if state["alrc"]:
                clip = ALRC(n_max=cfg.alrc_n, decay=decay).to(dev)
                clip.load_state_dict(state["alrc"])
            start = int(state["step"])
    if start >= cfg.steps and final.exists():
        return final
    ds, positions = training_items(task, cfg.source, cfg.root)
    batches = _Batches(task, ds, positions, _train_params(task, cfg.train_crop), cfg.batch_size,
                       seed)

    def save(path: Path, step: int, full: bool) -> None:
        state = {"model_name": name, "model_kwargs": kwargs, "model": model.state_dict(),
                 "config": cfg.as_dict(), "seed": seed, "step": step, "task": task.name,
                 "provenance": ds.provenance, "alrc_clipped": clipped}
        if full:
            state.update(optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                         alrc=clip.state_dict() if clip is not None else {}, alrc_warm=warm)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    model.train()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress,
               desc=f"train {name} on {task.name} seed {seed}", unit="step")
    for step in bar:
        x, y = (torch.from_numpy(a).to(dev) for a in batches(step))
        losses = ((_forward(model, x, y.shape[-2:]) - y) ** 2).flatten(1).mean(1)
        if cfg.alrc and clip is None and step >= warmup:
            clip = ALRC.from_losses(warm, n_max=cfg.alrc_n, decay=decay).to(dev)
        if clip is not None:
            clipped += int((losses.detach() > clip.bounds()[1]).sum())
            loss = clip(losses)
        else:
            loss = losses.mean()
            if step < warmup:
                warm.append(float(loss.detach()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingError(f"Training diverged at step {step} (loss {value}); lower --lr.")
        bar.set_postfix(loss=f"{value:.4g}", refresh=False)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            save(ckpt_path, step + 1, full=True)
    save(final, cfg.steps, full=False)
    return final


def predict(model: Any, task: Any, ds: Any, n: Optional[int], device: str = "cpu",
            batch_size: int = 8, progress: bool = True) -> Iterator[tuple[np.ndarray, Any]]:
    """Stream (prediction, instance) over the task's fixed instances, in order, in batches."""
    torch = require("torch", "torch")
    from tqdm.auto import tqdm

    dev = resolve_device(device)
    count = task.n_instances(ds, n)
    out_hw = tuple(task.prediction_shape()[:2])
    model = model.to(dev).eval()
    pending: list[Any] = []
    for k, inst in enumerate(tqdm(task.instances(ds, count), total=count, unit="inst",
                                  disable=not progress, desc=f"predict {task.name}")):
        pending.append(inst)
        if len(pending) == batch_size or k == count - 1:
            x = np.stack([model_input(task.family, i.input) for i in pending])
            with torch.no_grad():
                out = _forward(model, torch.from_numpy(x).to(dev), out_hw).float().cpu().numpy()
            yield from ((to_prediction(task.family, o), i) for o, i in zip(out, pending))
            pending.clear()


def score(model: Any, task: Any, ds: Any, n: Optional[int], source: str, device: str = "cpu",
          keep: Optional[Path] = None, progress: bool = True) -> Any:
    """Predict and score the task's instances as they stream (never all in memory), with the
    leaderboard's Scorer; ``keep``: also write the predictions there (.npy, memory-mapped) with
    ``instance_ids.json`` beside it, the inputs ``wemd evaluate`` takes."""
    from wemd.leaderboard.evaluator import Scorer

    count = task.n_instances(ds, n)
    scorer = Scorer(task)
    with contextlib.ExitStack() as stack:
        saved = None
        if keep is not None:
            tmp = stack.enter_context(atomic_path(keep))
            saved = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                              shape=(count,) + tuple(task.prediction_shape()))
        for k, (pred, inst) in enumerate(predict(model, task, ds, n, device, progress=progress)):
            scorer.add(pred, inst)
            if saved is not None:
                saved[k] = pred
        if saved is not None:
            saved.flush()
            del saved
    if keep is not None:
        write_json(Path(keep).with_name("instance_ids.json"), task.instance_ids(ds, count))
    dfp = ds.fingerprint()
    return scorer.result(provenance=ds.provenance, source=source, dataset_fingerprint=dfp,
                         instances_fingerprint=task.fingerprint(ds, count, dataset_fingerprint=dfp))


def train(cfg: TrainConfig, out: Path, device: str = "cpu", progress: bool = True,
          keep_predictions: bool = False) -> Optional[dict[str, Any]]:
    """Train every seed, predict and score the task's instances; write and return the record.

    With fewer than 3 seeds only ``eval.json`` files are written and None is returned (a
    learned record needs >= 3 seeds; seeds trained apart are reused by a later full call).
    ``keep_predictions`` also stores each seed's predictions (20000 full-size ones take 21 GB).
    """
    from wemd.leaderboard.records import MIN_SEEDS_LEARNED, make_record

    if len(set(cfg.seeds)) != len(cfg.seeds) or not cfg.seeds:
        raise TrainingError(f"seeds must be distinct and non-empty, not {list(cfg.seeds)}")
    task = cfg.task_obj()
    name = cfg.model_name()
    _check_model(task.family, name)
    out = Path(out)
    test_ds = task.open(source=cfg.source, root=cfg.root)
    results, clipped = [], []
    for seed in cfg.seeds:
        model_path = train_seed(cfg, seed, out, device, progress)
        model, state = build_from_checkpoint(model_path, device)
        clipped.append(int(state["alrc_clipped"]))
        keep = out / f"seed{seed}" / "predictions.npy" if keep_predictions else None
        result = score(model, task, test_ds, cfg.n, cfg.source, device, keep, progress)
        write_json(out / f"seed{seed}" / "eval.json", result.as_dict())
        results.append(result)
    if len(results) < MIN_SEEDS_LEARNED:  # seeds trained one at a time, e.g. on several GPUs
        return None
    params = {**cfg.as_dict(), "model": name, "alrc_decay": _alrc_decay(cfg.steps),
              "alrc_warmup": _alrc_warmup(cfg.steps), "alrc_clipped_per_seed": clipped}
    for key in ("task", "seeds", "source", "root", "n", "checkpoint_every", "overrides"):
        params.pop(key)
    notes = [] if task.standard else ["non-standard protocol parameters"]
    if test_ds.provenance != "real":
        notes.append(f"trained and scored on {test_ds.provenance} data, not the published data")
    record = make_record(results, name, kind="learned", seeds=list(cfg.seeds), parameters=params,
                         code_url="wemd.baselines.models",
                         description=f"{name} trained with Adam{' and ALRC' if cfg.alrc else ''} "
                                     f"for {cfg.steps} steps of batch {cfg.batch_size}",
                         notes="; ".join(notes))
    write_json(out / "record.json", record)
    return record
