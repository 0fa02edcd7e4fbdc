"""``wemd curate``: a lab's microscope files -> WEMD-style datasets with manifests, tables, cards.

The run: scan the input folder; read and chain every file in a process pool or on a Dask cluster
(each file cached as it finishes, so a rerun resumes); group the frames, join groups that share
duplicate images, cut whole groups into contiguous splits; write each dataset into a staging
folder and move it into place whole, with ``wemd.json`` (provenance ``curated``: the rules, every
source file with its sha256, every rejected file and why, hashes of every written file), an
``items.parquet`` table (one row per item: source file, pixel size, voltage, magnification,
detector, date, operator, group) and a ``README.md`` card. The same inputs and rules always give
byte-identical datasets, whether or not the run was interrupted.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np

from wemd.curate.chain import KINDS, Rules, variants
from wemd.curate.files import load_arrays, process_file, scan
from wemd.curate.partition import GROUP_BY, assign_splits, group_of, join_duplicates
from wemd.curate.pool import FILE_TIMEOUT_S, run_pool
from wemd.curate.table import ITEMS_TABLE
from wemd.errors import WEMDError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
CARD_NAME = "README.md"
#: how long to wait for a Dask scheduler to answer
CONNECT_TIMEOUT_S = 30
_META_COLUMNS = ("pixel_size", "pixel_unit", "voltage_kv", "magnification", "detector", "date",
                 "operator", "session", "specimen", "title", "stack_frame")


@dataclass
class CurationResult:
    """What one run made and found."""

    datasets: dict[str, dict[str, int]]  # dataset -> split counts
    files: int
    reused: int  # files whose cached result was used (a resumed run)
    rejected: list[dict[str, str]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    out: Optional[Path] = None


def check_name(name: str) -> str:
    """A curated dataset's name: lower-case letters, digits and '_', not a published dataset's."""
    from wemd import catalog

    if not isinstance(name, str) or not NAME_RE.match(name):
        raise WEMDError(f"dataset name {name!r}: use lower-case letters, digits and '_' (starting "
                        "with a letter, at most 48 characters), e.g. lab_stem.")
    for suffix in ("", "_crops", "_96x96", "_crops_96x96"):
        if name + suffix in catalog.CATALOG:
            raise WEMDError(f"{name!r} would make {name + suffix!r}, a published WEMD dataset: "
                            "choose a name of your own, e.g. lab_stem.")
    return name


def curate(src: Any, out: Any, name: str, rules: Rules, *, workers: int = 1,
           scheduler: Optional[str] = None, progress: bool = True,
           file_timeout: float = FILE_TIMEOUT_S) -> CurationResult:
    """Curate every microscope file under ``src`` into datasets ``name``, ``name_crops``, ... in
    the data home ``out`` (see the module docstring). ``file_timeout``: with ``workers`` over 1,
    a file still running after so many seconds is rejected and its worker replaced."""
    check_name(name)
    if rules.kind not in KINDS:
        raise WEMDError(f"--kind must be one of {', '.join(KINDS)}, not {rules.kind!r}.")
    if rules.group_by not in GROUP_BY:
        raise WEMDError(f"--group-by must be one of {', '.join(GROUP_BY)}, not {rules.group_by!r}.")
    # absolute: Dask workers run in folders of their own
    src, out = Path(src).expanduser().resolve(), Path(out).expanduser().resolve()
    if not src.is_dir():
        raise WEMDError(f"{src} is not a folder: give the folder that holds the microscope files.")
    if out.is_relative_to(src):
        raise WEMDError(f"--out {out} is inside the input folder {src}: its datasets would be read "
                        "as input on the next run; choose a folder outside it.")
    if not file_timeout > 0:
        raise WEMDError(f"--file-timeout must be a positive number of seconds, not {file_timeout}.")
    cache = out / ".curate" / name / "files"  # made only once the run is accepted
    cache.mkdir(parents=True, exist_ok=True)
    rels, refused = scan(src)
    summaries = run_jobs(str(src), rels, rules, str(cache), workers, scheduler, progress, file_timeout)
    summaries.sort(key=lambda s: s["path"])
    return assemble(name, rules, src, out, cache, summaries, refused)


# ---------------------------------------------------------------------------- running the files

def run_jobs(src: str, rels: list[str], rules: Rules, cache: str, workers: int,
             scheduler: Optional[str], progress: bool, file_timeout: float = FILE_TIMEOUT_S
             ) -> list[dict[str, Any]]:
    """Every file's summary: in this process (``workers`` 1), worker processes that are stopped
    after ``file_timeout`` seconds on one file, or a Dask cluster."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(rels), desc="curate", unit="file", disable=not progress)
    done: list[dict[str, Any]] = []

    def finished(summary: dict[str, Any]) -> None:
        done.append(summary)
        bar.update(1)

    try:
        if scheduler:
            _on_dask(scheduler, src, rels, rules, cache, finished)
        elif workers > 1 and len(rels) > 1:
            run_pool(workers, src, rels, rules, cache, finished, file_timeout)
        else:
            for rel in rels:
                finished(process_file(src, rel, rules, cache))
    finally:
        bar.close()
    return done


def _on_dask(address: str, src: str, rels: list[str], rules: Rules, cache: str,
             finished: Callable[[dict], None]) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        from wemd.errors import MissingExtraError

        raise MissingExtraError("distributed", "arrays") from exc
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise WEMDError(f"cannot reach the Dask scheduler at {address} ({exc}); start one with "
                        "`dask scheduler` and workers that see the input and --out folders.") from exc
    try:
        futures = client.map(process_file, [src] * len(rels), rels, [rules] * len(rels),
                             [cache] * len(rels), pure=False)
        for fut in as_completed(futures):
            finished(fut.result())
    finally:
        client.close()


# --------------------------------------------------------------------------- assembling datasets

def assemble(name: str, rules: Rules, src: Path, out: Path, cache: Path,
             summaries: list[dict[str, Any]], refused: list[dict[str, str]]) -> CurationResult:
    """Partition the finished files' frames and write every dataset of the kind."""
    rejected = refused + [{"path": s["path"], "reason": s["reason"]}
                          for s in summaries if s["status"] != "ok"]
    items, dropped = [], []
    for s in summaries:
        for note in s.get("skipped", []):
            dropped.append({"path": s["path"], "frame": None, "reason": f"skipped {note}"})
        for fr in s["frames"]:
            if fr.get("dropped"):
                dropped.append({"path": s["path"], "frame": fr["frame"], "reason": fr["dropped"]})
                continue
            group, group_from = group_of(s["path"], fr["meta"], rules.group_by)
            items.append({"summary": s, "frame": fr, "group": group, "group_from": group_from})
    if not items:
        reasons = "; ".join(f"{r['path']}: {r['reason']}" for r in (rejected + dropped)[:5])
        raise WEMDError(f"no usable image in {src}: {len(rejected)} file(s) rejected, {len(dropped)} "
                        f"frame(s) dropped ({reasons or 'no files'}). Check the folder and --kind.")
    groups = [it["group"] for it in items]
    blocks, dups = join_duplicates(groups, [(it["frame"]["exact"], it["frame"]["near"]) for it in items])
    proportions = dict(zip(("train", "val", "test"), rules.proportions))
    order, ranges = assign_splits([blocks[g] for g in groups], proportions)
    split_of = {}
    for split, (a, b) in ranges.items():
        for pos in range(a, b):
            split_of[order[pos]] = (split, pos - a)
    def label(i: int) -> str:
        return f"{items[i]['summary']['path']}#{items[i]['frame']['frame']}"

    for d in dups:  # by file and frame, not by internal index; always one split
        d["split"] = sorted({split_of[i][0] for i in d["items"]})
        d["items"] = [label(i) for i in d["items"]]
    ordered = [items[i] | {"split": split_of[i][0]} for i in order]
    provenance = {
        "tool": "wemd curate", "rules": rules.to_json(), "rule_text": rules.describe(),
        "sources": [{"path": s["path"], "sha256": s.get("sha256"), "size": s["size"],
                     "status": s["status"], "frames": len(s["frames"])} for s in summaries],
        "rejected": rejected, "dropped": dropped, "duplicates": dups,
        "groups": {blocks[it["group"]]: it["split"] for it in ordered},
        "joined_groups": {g: b for g, b in sorted(blocks.items()) if g != b},
    }
    from wemd import __version__

    provenance["wemd_version"] = __version__
    made = {}
    for suffix, variant in variants(rules.kind).items():
        made[name + suffix] = write_dataset(name + suffix, variant, name, rules, out, cache,
                                            ordered, provenance)
    return CurationResult(made, files=len(summaries),
                          reused=sum(1 for s in summaries if s.get("reused")), rejected=rejected,
                          dropped=dropped, duplicates=len({tuple(d["items"]) for d in dups}),
                          out=out)


def _item_arrays(ordered: list[dict], cache: Path, variant: str, rules: Rules
                 ) -> Iterable[tuple[dict, list[np.ndarray]]]:
    """Each item with its arrays of ``variant`` (a crop set is several), reading each file's
    cache once (an item's frames are adjacent in the order)."""
    current, arrays = None, {}
    for it in ordered:
        key = it["summary"]["key"]
        if key != current:
            current, arrays = key, load_arrays(cache, key, variant, rules)
        arr = arrays.get(it["frame"]["frame"])
        if arr is None:
            yield it, []
        elif variant == "crops":
            yield it, list(arr)
        else:
            yield it, [arr]


def _row(it: dict, split: str, position: int, item_id: str, extra: dict) -> dict[str, Any]:
    fr, s = it["frame"], it["summary"]
    meta = fr["meta"]
    return {"id": item_id, "split": split, "position": position, "source": s["path"],
            "source_sha256": s["sha256"], "source_frame": fr["frame"],
            "source_height": fr["shape"][0], "source_width": fr["shape"][1],
            "group": it["group"], "group_from": it["group_from"],
            **{c: meta.get(c) for c in _META_COLUMNS},
            "mean_counts": fr.get("mean_counts"), "counts_from": fr.get("counts_from"), **extra}


def write_dataset(dataset: str, variant: str, base: str, rules: Rules, out: Path, cache: Path,
                  ordered: list[dict], provenance: dict[str, Any]) -> dict[str, int]:
    """Write one dataset into a staging folder, then put it in place whole."""
    import pandas as pd

    from wemd.files import save_npy, write_text
    from wemd.manifest import Manifest, file_entries, write_manifest

    stage = out / ".curate" / base / "staging" / dataset
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    per_split: dict[str, list[np.ndarray]] = {}
    npy = variant in ("d96", "c96")
    for it, arrays in _item_arrays(ordered, cache, variant, rules):
        split = it["split"]
        for k, arr in enumerate(arrays):
            pos = counts.get(split, 0)
            counts[split] = pos + 1
            extra = {"crop_index": k} if variant == "crops" else {}
            if npy:
                per_split.setdefault(split, []).append(arr.astype(np.float32, copy=False))
                item_id = f"{split}.npy[{pos}]"
            else:
                item_id = f"{split}/{pos:06d}.tif"
                _write_tiff(stage / item_id, arr)
            rows.append(_row(it, split, pos, item_id, extra))
    if set(counts) != {"train", "val", "test"}:
        empty = sorted({"train", "val", "test"} - set(counts))
        raise WEMDError(f"{dataset}: split(s) {', '.join(empty)} would be empty (the images of the "
                        "groups placed there give no item of this kind, e.g. all smaller than a "
                        "crop); add images or choose other proportions.")
    counts = {s: counts[s] for s in ("train", "val", "test")}
    for split, arrs in per_split.items():
        save_npy(stage / f"{split}.npy", np.stack(arrs))
    table = pd.DataFrame(rows)
    table.to_parquet(stage / ITEMS_TABLE, index=False)
    data_files = sorted(p for p in stage.rglob("*") if p.is_file())
    spec = _spec_block(dataset, variant, base, rules, len(rows))
    manifest = Manifest(dataset=dataset, provenance="curated", splits=counts,
                        files=file_entries(stage, data_files), generator=provenance,
                        description=spec["description"], spec=spec)
    write_manifest(stage, manifest)
    from wemd import catalog
    from wemd.cards import render

    write_text(stage / CARD_NAME, render(catalog.declared_spec(manifest, stage), provenance="curated",
                                         counts=counts))
    _replace(out / dataset, stage)
    return counts


def _write_tiff(path: Path, arr: np.ndarray) -> None:
    import tifffile

    from wemd.files import atomic_path

    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, np.asarray(arr, np.float32), photometric="minisblack")


def _spec_block(dataset: str, variant: str, base: str, rules: Rules, n: int) -> dict[str, Any]:
    kind = rules.kind.upper()
    shapes = {"full": None if rules.kind == "stem" else [rules.size, rules.size],
              "crops": [rules.crop, rules.crop], "d96": [rules.small, rules.small, 1],
              "c96": [rules.small, rules.small, 1]}
    what = {"full": ("full images at original size and intensity" if rules.kind == "stem" else
                     f"images, largest square area-resized to {rules.size}x{rules.size}, min-max scaled"),
            "crops": f"non-overlapping {rules.crop}x{rules.crop} crops",
            "d96": f"images area-downsampled to {rules.small}x{rules.small}",
            "c96": f"one {rules.small}x{rules.small} crop of each image"}[variant]
    return {"family": rules.kind, "description": f"{n} curated {kind} {what}",
            "item_shape": shapes[variant], "dtype": "float32",
            "layouts": ["npy_array"] if variant in ("d96", "c96") else ["tiff_dir"],
            "partition": "contiguous", "derived_from": None if variant == "full" else base,
            "notes": rules.describe()}


def _replace(target: Path, stage: Path) -> None:
    """Put a finished dataset folder in place of the old one (the old one is removed after);
    a folder that is not a curated dataset is never replaced."""
    from wemd.manifest import read_manifest

    if target.exists() and (not target.is_dir() or target.is_symlink() or getattr(
            read_manifest(target) if target.is_dir() else None, "provenance", None) != "curated"):
        raise WEMDError(f"{target} exists and is not a dataset made by wemd curate; move it away or "
                        "choose another --name.")
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(stage, target)
    if old.exists():
        shutil.rmtree(old)
