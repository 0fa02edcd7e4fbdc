"""Trained reference networks as files with model cards, loaded by name from a path or a mirror.

``export_pretrained(run_dir, name, out_dir)`` packages one seed of a ``wemd train`` run:
``{name}.pt`` (weights and the config to rebuild the network), ``{name}.md`` (a model card
with YAML front matter: task, data source and provenance, metrics over all seeds, training
config) and an entry in ``registry.json`` (file, sha256, size). ``out_dir`` is then a mirror
folder: serve it as ``{mirror}/pretrained/``.

``load_pretrained(name)`` accepts a ``.pt`` path, or a registered name: the file is taken from
the cache (``{data home}/pretrained``) when its sha256 matches, else fetched from the mirrors
(``mirrors=`` or ``$WEMD_MIRRORS``: http(s) base URLs, or local folders as paths or ``file://``
URLs) and checked against the registry's size and sha256 as it is copied into the cache. Names
come from :data:`PUBLISHED` (shipped with the package) and any ``registry=`` file given. No
weights trained on the published data have been released yet, so :data:`PUBLISHED` is empty
until they are.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from wemd.files import atomic_path, safe_filename, safe_join, sha256_file, write_json, write_text
from wemd.errors import CorruptFileError, WEMDError, require

PathLike = Union[str, "os.PathLike[str]"]
REGISTRY_FILE = "registry.json"
MIRROR_FOLDER = "pretrained"

__all__ = ["PUBLISHED", "PretrainedEntry", "PretrainedError", "export_pretrained", "load_pretrained",
           "read_registry"]


class PretrainedError(WEMDError, LookupError):
    """An unknown pretrained name, a missing mirror, or a download that failed on every mirror."""


@dataclasses.dataclass(frozen=True)
class PretrainedEntry:
    """One released set of weights: where the file is, how to check it, what it was trained for."""

    name: str
    file: str
    sha256: str
    size: int
    task: str
    model: str
    provenance: str
    card: str


#: Weights released with this version of the package (name -> entry).
PUBLISHED: dict[str, PretrainedEntry] = {}


def read_registry(path: PathLike) -> dict[str, PretrainedEntry]:
    """Entries of a ``registry.json`` (a file, or a folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / REGISTRY_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise TypeError("the registry must be a JSON object of name -> entry")
        entries = {name: PretrainedEntry(**entry) for name, entry in raw.items()}
        for name, entry in entries.items():
            _check_entry(name, entry)
        return entries
    except FileNotFoundError:
        raise PretrainedError(f"No pretrained registry at {path}; write one with "
                              "`wemd export-model`.") from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise CorruptFileError(path, f"not a pretrained registry ({exc})") from exc


def _check_entry(name: str, entry: PretrainedEntry) -> None:
    """A registry entry names a bare file (never a path) with a sha256 and a size."""
    safe_filename(entry.file, f"registry entry {name!r}: file")
    safe_filename(entry.card, f"registry entry {name!r}: card")
    if not (isinstance(entry.sha256, str) and re.fullmatch(r"[0-9a-f]{64}", entry.sha256)):
        raise ValueError(f"registry entry {name!r}: sha256 must be 64 lowercase hex digits")
    if not (isinstance(entry.size, int) and not isinstance(entry.size, bool) and entry.size >= 0):
        raise ValueError(f"registry entry {name!r}: size must be a non-negative integer")


# -- export ------------------------------------------------------------------------------------
def run_seed(run_dir: Path, seed: Optional[int] = None) -> tuple[dict[str, Any], int]:
    """The record of a finished ``wemd train`` run and one of its seeds (default: the first)."""
    try:
        record = json.loads((run_dir / "record.json").read_text())
    except FileNotFoundError:
        raise PretrainedError(f"{run_dir} has no record.json: finish `wemd train` there first.") from None
    seeds = [r["seed"] for r in record["runs"]]
    seed = seeds[0] if seed is None else seed
    if seed not in seeds:
        raise PretrainedError(f"Seed {seed} is not in the run at {run_dir} (seeds {seeds}).")
    return record, seed


def export_pretrained(run_dir: PathLike, name: str, out_dir: PathLike,
                      seed: Optional[int] = None) -> PretrainedEntry:
    """Package one seed (default: the run's first) of a ``wemd train`` run as ``name``."""
    torch = require("torch", "torch")

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    safe_filename(f"{name}.pt", "model name")
    record, seed = run_seed(run_dir, seed)
    state = torch.load(run_dir / f"seed{seed}" / "model.pt", map_location="cpu", weights_only=True)
    state["card"] = {"name": name, "task": record["task"], "seed": seed,
                     "metrics": record["metrics"], "runs": record["runs"], "data": record["data"]}
    pt = out_dir / f"{name}.pt"
    with atomic_path(pt) as tmp:
        torch.save(state, tmp)
    entry = PretrainedEntry(name=name, file=pt.name, sha256=sha256_file(pt), size=pt.stat().st_size,
                            task=record["task"], model=state["model_name"],
                            provenance=record["data"]["provenance"], card=f"{name}.md")
    write_text(out_dir / entry.card, model_card(entry, record, state))
    registry = read_registry(out_dir) if (out_dir / REGISTRY_FILE).exists() else {}
    registry[name] = entry
    write_json(out_dir / REGISTRY_FILE, {k: dataclasses.asdict(v) for k, v in sorted(registry.items())})
    return entry


def model_card(entry: PretrainedEntry, record: dict[str, Any], state: dict[str, Any]) -> str:
    """A Markdown model card with Hub-style YAML front matter."""
    import yaml

    from wemd.leaderboard.tasks import get_task

    task = get_task(record["task"])
    data = record["data"]
    front = {"library_name": "pytorch", "license": "mit", "tags": ["electron-microscopy", "wemd",
                                                                     task.family, entry.model],
             "datasets": [task.dataset],
             "wemd": {"task": entry.task, "protocol_version": record["protocol_version"],
                      "provenance": data["provenance"], "source": data["source"],
                      "dataset_fingerprint": data["dataset_fingerprint"], "n": data["n"],
                      "standard": data["standard"], "seeds": [r["seed"] for r in record["runs"]],
                      "released_seed": state["seed"], "sha256": entry.sha256,
                      "metrics": {m: {"mean": s["mean"], "std": s["std"]}
                                  for m, s in record["metrics"].items()}}}
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
             f"# {entry.name}: {entry.model} for {task.title}", ""]
    if data["provenance"] != "real":
        lines += [f"**Trained and scored on {data['provenance']} data, not the published WEMD "
                  "data: a demonstration of the pipeline, not a reference result.**", ""]
    cfg = state["config"]
    alrc = f"n = {cfg['alrc_n']}" if cfg["alrc"] else "off"
    lines += ["## Data", "",
              f"Task `{entry.task}` (protocol {record['protocol_version']}"
              f"{'' if data['standard'] else ', non-standard parameters'}) on `{task.dataset}`/"
              f"`{task.split}`, source `{data['source']}`, provenance `{data['provenance']}`, "
              f"dataset fingerprint `{data['dataset_fingerprint']}`; scored on n = {data['n']} "
              "instances.", "",
              "## Training", "",
              f"`{entry.model}` (width {state['model_kwargs'].get('width')}), Adam lr {cfg['lr']}, "
              f"{cfg['steps']} steps of batch {cfg['batch_size']} on "
              f"{cfg['train_crop'] or 'full-size'} crops, ALRC {alrc}; "
              f"seeds {', '.join(str(r['seed']) for r in record['runs'])}; this file holds seed "
              f"{state['seed']}.", "",
              "## Metrics (mean +- std over seeds)", "", "| metric | mean | std | per seed |",
              "|---|---|---|---|"]
    for m, s in record["metrics"].items():
        per = ", ".join(f"{r['metrics'][m]['mean']:.4g}" for r in record["runs"])
        lines.append(f"| {m} | {s['mean']:.4g} | {s['std']:.3g} | {per} |")
    lines += ["", "## Use", "", "```python", "from wemd.baselines import load_pretrained",
              f"model = load_pretrained({entry.name!r})", "```", "",
              f"File `{entry.file}`, {entry.size} bytes, sha256 `{entry.sha256}`.", ""]
    return "\n".join(lines)


# -- load --------------------------------------------------------------------------------------
def load_pretrained(name: PathLike, *, registry: Optional[PathLike] = None,
                    mirrors: Optional[Sequence[str]] = None, cache: Optional[PathLike] = None,
                    device: str = "cpu", progress: Optional[bool] = None) -> Any:
    """A trained network in eval mode, with its card as ``model.card`` (see module docstring)."""
    path = Path(name)
    if path.suffix == ".pt" and path.is_file():
        return _build(path, device)
    entries = dict(PUBLISHED)
    if registry is not None:
        entries.update(read_registry(registry))
    if str(name) not in entries:
        known = ", ".join(sorted(entries)) or "none registered"
        raise PretrainedError(f"No pretrained model {str(name)!r} (known: {known}). Pass a .pt "
                              "path, or registry= a registry.json from `wemd export-model`.")
    entry = entries[str(name)]
    from wemd.home import data_home

    folder = Path(cache) if cache is not None else data_home() / MIRROR_FOLDER
    local = safe_join(folder, entry.file, f"registry entry {entry.name!r}: file")
    if local.is_file() and sha256_file(local) == entry.sha256:
        return _build(local, device)
    return _build(_download(entry, folder, mirrors, progress), device)


def _download(entry: PretrainedEntry, folder: Path, mirrors: Optional[Sequence[str]],
              progress: Optional[bool], retries: int = 2) -> Path:
    from urllib.parse import quote

    from wemd.fetch import BadMirror, FetchFailed, fetch_verified, mirror_base
    from wemd.official import default_mirrors

    bases = list(mirrors) if mirrors is not None else default_mirrors()
    if not bases:
        raise PretrainedError(f"{entry.name} is not in {folder} and no mirror is set: pass "
                              "mirrors=[...] or set WEMD_MIRRORS (files are served from "
                              f"<mirror>/{MIRROR_FOLDER}/{entry.file}).")
    try:
        urls = [f"{mirror_base(base)}/{MIRROR_FOLDER}/{quote(entry.file)}" for base in bases]
    except BadMirror as exc:
        raise PretrainedError(f"Cannot fetch {entry.name}: {exc}") from None
    try:
        return fetch_verified(urls, entry.file, entry.sha256, folder, size=entry.size,
                              progress=progress, retries=retries)
    except FetchFailed as exc:
        what = f"; what was served does not match sha256 {entry.sha256}" if exc.corrupt else ""
        raise PretrainedError(f"Could not fetch {entry.name} from any mirror{what}:\n{exc}") from None


def _build(path: Path, device: str) -> Any:
    from wemd.baselines.training import build_from_checkpoint

    try:
        model, state = build_from_checkpoint(path, device)
    except (RuntimeError, KeyError, OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise CorruptFileError(path, f"not a wemd model file ({exc})") from exc
    model.card = state.get("card", {"task": state.get("task"), "seed": state.get("seed")})
    return model
