"""The family builders of the synthetic mini-WEMD: CIFs, STEM, TEM, focal series and
wavefunctions. Each builder writes its datasets into ``ctx.stage / name`` and ends every one
with :meth:`~wemd.synthetic.builder.BuildContext.finish`.

Per-item work runs in ``*_job`` functions (module level, so worker processes can pickle them),
each drawing from its own :func:`~wemd.synthetic.builder.item_rng` so the bytes do not depend on
the worker count. Image formation lives in :mod:`wemd.synthetic.images` (imported by the jobs,
keeping ``import wemd.synthetic`` free of scipy).
"""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from wemd import catalog, curation
from wemd.files import atomic_path, save_npy, write_text
from wemd.manifest import read_manifest
from wemd.synthetic.builder import BuildContext, SyntheticBuildError, item_rng

#: Datasets built together (derived variants come from their parent's build), in dependency
#: order: cifs first (every other family images or simulates its structures).
GROUPS: dict[str, tuple[str, ...]] = {
    "cifs": ("cifs",),
    "stem": ("stem_full", "stem_crops", "stem_96x96", "stem_crops_96x96"),
    "tem": ("tem_full", "tem_96x96"),
    "focal": ("focal_series",),
    "waves": tuple(n for n, s in catalog.CATALOG.items() if s.family == "wavefunctions"),
}
GROUP_OF = {name: group for group, names in GROUPS.items() for name in names}
SMALL = curation.SMALL_SIZE  # side of the 96x96 variants
assert set(GROUP_OF) == set(catalog.CATALOG), "every catalog dataset needs a synthetic builder"


def _write_tiff(path: Path, image: np.ndarray) -> None:
    import tifffile

    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, np.ascontiguousarray(image, dtype=np.float32))


def _contributors(rng: np.random.Generator, counts: dict[str, int], run: int,
                  prefix: str) -> list[str]:
    """Contributor of every item: runs of 1..``run`` items, never straddling a split."""
    out, k = [], 0
    for n in counts.values():
        while n > 0:
            size = min(n, int(rng.integers(1, run + 1)))
            out += [f"{prefix}-{k:03d}"] * size
            n -= size
            k += 1
    return out


def _partition(contributors: list[str], name: str) -> dict[str, tuple[int, int]]:
    return curation.partition_by_contributor(contributors, catalog.get(name).splits)


# ---------------------------------------------------------------------------------------- CIFs

#: Structures beyond wemd.simulation.examples: (formula, cell, space group, sites, reference).
_EXTRA_STRUCTURES = {
    "GaN": ("Ga N", (3.189, 3.189, 5.185, 90, 90, 120), "P 63 m c",
            [("Ga1", "Ga", 1 / 3, 2 / 3, 0.0, 1), ("N1", "N", 1 / 3, 2 / 3, 0.377, 1)],
            "wurtzite GaN at room temperature"),
    "MoS2": ("Mo S2", (3.160, 3.160, 12.294, 90, 90, 120), "P 63/m m c",
             [("Mo1", "Mo", 1 / 3, 2 / 3, 0.25, 1), ("S1", "S", 1 / 3, 2 / 3, 0.621, 1)],
             "2H-MoS2 (molybdenite)"),
}
_JOURNALS = {"train": ("Inorganic Chemistry", "Journal of the American Chemical Society",
                       "American Mineralogist", "New Journal of Chemistry"),
             "val": ("Physics and Chemistry of Minerals",), "test": ("Chemistry of Materials",)}
#: A reserved, never-resolving host: these CIFs are not COD records.
SYNTHETIC_URL = "https://wemd-synthetic.invalid/cod/{id}.cif"


def structure_splits(structures: Sequence[str]) -> dict[str, str]:
    """Structure -> split, in order, with counts in the catalog's CIF proportions."""
    counts = curation.split_counts(len(structures), catalog.get("cifs").splits)
    out, pos = {}, 0
    for split, n in counts.items():
        for name in structures[pos:pos + n]:
            out[name] = split
        pos += n
    return out


def _build_cifs(ctx: BuildContext) -> None:
    from wemd.simulation.examples import EXAMPLES, cif_text

    folder = ctx.stage / "cifs"
    splits = structure_splits(ctx.scale.structures)
    seen: dict[str, int] = {}
    items, urls = [], []
    for k, name in enumerate(ctx.scale.structures):
        split = splits[name]
        journal = _JOURNALS[split][seen.get(split, 0) % len(_JOURNALS[split])]
        seen[split] = seen.get(split, 0) + 1
        cod_id = f"{9000 + k:07d}"
        if name in EXAMPLES:
            _, _, formula, cell, group, sites, ref = EXAMPLES[name]
        else:
            formula, cell, group, sites, ref = _EXTRA_STRUCTURES[name]
        text = cif_text(name, (cod_id, journal, formula, cell, group, sites, ref))
        write_text(folder / "cifs" / f"{cod_id}.cif", text)
        urls.append(SYNTHETIC_URL.format(id=cod_id))
        items.append({"id": f"cifs/{cod_id}.cif", "structure": name, "journal": journal,
                      "split": split})
    write_text(folder / "urls.txt", "\n".join(urls) + "\n")
    counts = {s: sum(1 for v in splits.values() if v == s) for s in catalog.get("cifs").splits}
    ctx.finish("cifs", counts, items, "CIFs of real structures with journal tags assigned to "
               "span the partition; ids in the unassigned COD range, URLs on a reserved host.")


@lru_cache(maxsize=None)
def _crystals(cif_dir: str) -> tuple:
    """The imaged structures of the stand-in's CIFs (read once per process)."""
    from wemd.simulation.cif import read_cif
    from wemd.synthetic.images import ImagedStructure

    paths = sorted(Path(cif_dir).glob("*.cif"))
    return tuple(ImagedStructure.from_cif(read_cif(p)) for p in paths)


# ---------------------------------------------------------------------------------------- STEM

def _stem_job(job: tuple) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray]:
    """One stem_full image, its metadata and its two 96x96 variants (area-downsampled, crop)."""
    from wemd.synthetic import images

    seed, index, contributor, kind, special, cif_dir, max_side, first = job
    crystals = _crystals(cif_dir)
    style = images.stem_style(item_rng(seed, "stem-style", contributor), crystals)
    sizes = tuple(s for s in style.sizes if max(s) <= max_side) or ((512, 512),)
    style.sizes = (max(sizes, key=lambda s: s[0] * s[1]),) if first else sizes
    image, meta = images.stem_image(item_rng(seed, "stem", index), style, kind, special)
    return image, meta, curation.downsample_96(image), curation.crop_96(image)


#: What a derived item repeats from its source's record, so it says what it shows.
_SOURCE_FACTS = ("kind", "detector", "crystal", "zone", "regime", "formula", "zone_axis",
                 "depth_nm", "voltage_kv")


def _derived_item(parent: dict, pixel_scale: tuple[float, float], **fields) -> dict:
    """A derived item's record: ``fields`` (row, source), the parent's facts, and its pixel size
    (the parent's times ``pixel_scale``, y and x; ``pixel_size_y_A`` only where they differ)."""
    item = {**fields, **{k: parent[k] for k in _SOURCE_FACTS if k in parent}}
    if parent.get("pixel_size_A"):
        py, px = (parent["pixel_size_A"] * f for f in pixel_scale)
        item["pixel_size_A"] = round(px, 4)
        if not np.isclose(py, px, rtol=1e-3):
            item["pixel_size_y_A"] = round(py, 4)
    return item


def _build_stem(ctx: BuildContext) -> None:
    sc, rng = ctx.scale, item_rng(ctx.seed, "stem-plan")
    from wemd.synthetic.images import STEM_KINDS, STEM_SPECIAL

    planned = curation.split_counts(sc.stem_images, catalog.get("stem_full").splits)
    people = _contributors(rng, planned, sc.stem_run, "stem")
    ranges = _partition(people, "stem_full")
    kinds = [k for k, n in curation.split_counts(sc.stem_images, {k: round(v * 100) for k, v in
                                                                  STEM_KINDS.items()}).items()
             for _ in range(n)]
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    special = {int(i): STEM_SPECIAL[j % len(STEM_SPECIAL)] for j, i in
               enumerate(rng.choice(sc.stem_images, size=sc.stem_special, replace=False))}
    order = sorted(set(people), key=people.index)
    jobs = [(ctx.seed, i, order.index(people[i]), kinds[i], special.get(i), str(ctx.cif_dir),
             sc.stem_max_side, i == 0 or people[i] != people[i - 1])
            for i in range(sc.stem_images)]
    full, crops = ctx.stage / "stem_full", ctx.stage / "stem_crops"
    small = np.zeros((sc.stem_images, 96, 96, 1), np.float32)
    small_crops = np.zeros_like(small)
    split_of = {i: s for s, (a, b) in ranges.items() for i in range(a, b)}
    items, crop_items, crop_counts = [], [], dict.fromkeys(ranges, 0)
    small_items, crop96_items = [], []
    for i, (image, meta, small96, crop96) in enumerate(ctx.map(_stem_job, jobs, "synth stem")):
        small[i], small_crops[i] = small96, crop96
        split = split_of[i]
        rel = f"{split}/{i - ranges[split][0]}.tif"
        _write_tiff(full / rel, image)
        items.append({"id": rel, "contributor": people[i], **meta})
        for t, tile in enumerate(curation.non_overlapping_crops(image)):
            crel = f"{split}/{crop_counts[split]}.tif"
            _write_tiff(crops / crel, tile)
            crop_items.append(_derived_item(meta, (1, 1), id=crel, source=rel, tile=t,
                                            contributor=people[i]))
            crop_counts[split] += 1
        side = min(image.shape)  # downsample_96 shrinks the top-left square, crop_96 cuts 96 px
        small_items.append(_derived_item(meta, (side / SMALL,) * 2, row=i, source=rel))
        crop96_items.append(_derived_item(meta, (1, 1), row=i, source=rel,
                                          **({} if side >= SMALL else {"zeros": True})))
    counts = {s: b - a for s, (a, b) in ranges.items()}
    columns = sum(m.get("kind") in ("atomic", "particles_atomic") for m in items)
    ctx.finish("stem_full", counts, items, "Simulated HAADF / bright-field STEM images.",
               contributors=len(order), atom_column_images=columns,
               special=sorted(special.values()))
    if min(crop_counts.values()) == 0:
        raise SyntheticBuildError(f"a split has no 512x512 crops ({crop_counts}); this scale "
                                  "needs larger images")
    ctx.finish("stem_crops", crop_counts, crop_items,
               "Non-overlapping 512x512 crops of the synthetic stem_full (wemd.curation).")
    for name, arr, rows, how in (
            ("stem_96x96", small, small_items, "the top-left square box-resized to 96x96"),
            ("stem_crops_96x96", small_crops, crop96_items, "the top-left 96x96 region of each "
             "image")):
        save_npy(ctx.stage / name / f"{name}.npy", arr)
        ctx.finish(name, counts, rows, f"Synthetic stem_full: {how} (wemd.curation, as the "
                   "authors' scripts).")


# ----------------------------------------------------------------------------------------- TEM

def _tem_job(job: tuple) -> tuple[Optional[np.ndarray], dict, Optional[np.ndarray]]:
    """One curated tem_full image (None: under the dose threshold), its record and its 96x96."""
    from wemd.synthetic import images

    seed, contributor, candidate, cif_dir, shapes = job
    crystals = _crystals(cif_dir)
    taste = item_rng(seed, "tem-style", contributor)
    own = tuple(crystals[int(i)] for i in taste.choice(len(crystals), size=min(2, len(crystals)),
                                                        replace=False))
    rng = item_rng(seed, "tem", contributor, candidate)
    shape = shapes[int(rng.integers(len(shapes)))]
    dose = float(np.exp(rng.uniform(np.log(1800), np.log(30000))))
    raw, meta = images.tem_raw(rng, own, shape, dose)
    meta["mean_counts_per_px"] = round(curation.mean_counts(raw), 1)
    # the curated image is the raw image's largest square resized to TEM_SIZE
    meta["raw_pixel_size_A"] = meta["pixel_size_A"]
    meta["pixel_size_A"] = round(meta["pixel_size_A"] * min(shape) / curation.TEM_SIZE, 4)
    image = curation.curate_tem(raw)
    return image, meta, None if image is None else curation.downsample_96(image)


def _build_tem(ctx: BuildContext) -> None:
    sc = ctx.scale
    planned = curation.split_counts(sc.tem_images, catalog.get("tem_full").splits)
    people = _contributors(item_rng(ctx.seed, "tem-plan"), planned, sc.tem_run, "tem")
    ranges = _partition(people, "tem_full")
    order = sorted(set(people), key=people.index)
    quota = {c: people.count(person) for c, person in enumerate(order)}
    kept: dict[int, list[tuple[np.ndarray, dict, np.ndarray]]] = {c: [] for c in quota}
    tried = dict.fromkeys(quota, 0)
    discarded = 0
    while any(len(kept[c]) < quota[c] for c in quota):  # rounds: each asks only for the deficit
        jobs = [(ctx.seed, c, tried[c] + j, str(ctx.cif_dir), sc.tem_shapes)
                for c in quota for j in range(quota[c] - len(kept[c]))]
        for job, (image, meta, small96) in zip(jobs, ctx.map(_tem_job, jobs, "synth tem")):
            c = job[1]
            tried[c] += 1
            if image is None:
                discarded += 1
            else:
                kept[c].append((image, {"contributor": order[c], "candidate": job[2], **meta},
                                small96))
    images = [kept_one for c in quota for kept_one in kept[c]]
    split_of = {i: s for s, (a, b) in ranges.items() for i in range(a, b)}
    small = np.zeros((len(images), 96, 96, 1), np.float32)
    items, small_items = [], []
    scale = curation.TEM_SIZE / SMALL
    for i, (image, meta, small96) in enumerate(images):
        small[i] = small96
        split = split_of[i]
        rel = f"{split}/{i - ranges[split][0]}.tif"
        _write_tiff(ctx.stage / "tem_full" / rel, image)
        items.append({"id": rel, **meta})
        small_items.append(_derived_item(meta, (scale, scale), row=i, source=rel))
    counts = {s: b - a for s, (a, b) in ranges.items()}
    ctx.finish("tem_full", counts, items, "Simulated CTEM phase-contrast images, curated by "
               "wemd.curation.curate_tem (largest square, area resize to 2048, >= 2500 "
               "counts/px, min-max).", discarded_below_min_counts=discarded,
               contributors=len(order))
    save_npy(ctx.stage / "tem_96x96" / "tem_96x96.npy", small)
    ctx.finish("tem_96x96", counts, small_items,
               "Synthetic tem_full area-downsampled to 96x96 (wemd.curation).")


# -------------------------------------------------------------------------------- focal series

def _focal_job(job: tuple) -> tuple[np.ndarray, dict]:
    from wemd.synthetic import images

    seed, k, cif_dir = job
    return images.focal_series(item_rng(seed, "focal", k), _crystals(cif_dir))


def _build_focal(ctx: BuildContext) -> None:
    n = ctx.scale.focal_series
    items = []
    jobs = [(ctx.seed, k, str(ctx.cif_dir)) for k in range(n)]
    for k, (series, meta) in enumerate(ctx.map(_focal_job, jobs, "synth focal series")):
        for f, frame in enumerate(series):
            _write_tiff(ctx.stage / "focal_series" / str(k) / f"{f}.tif", frame)
        items.append({"id": str(k), **meta})
    ctx.finish("focal_series", {"all": n}, items, "Simulated 14-image focal series "
               "(quadratic defocus steps), area-downsampled 2x to 512x512 (wemd.curation).")


# ------------------------------------------------------------------------------ wavefunctions

def _wave_job(job: tuple) -> str:
    from wemd.simulation import simulate_dataset

    variant, cifs, out, seed, overrides, draws = job
    simulate_dataset(cifs, variant, out, backend="numpy", workers=1, seed=seed,
                     protocol_overrides=overrides, draws_per_cif=draws, progress=False,
                     backend_options={"workers": 1}, command="wemd synth")
    shutil.rmtree(Path(out) / ".work", ignore_errors=True)  # staged copies (hard links)
    return variant


def _build_waves(ctx: BuildContext) -> None:
    sc = ctx.scale
    cif_paths = sorted(ctx.cif_dir.glob("*.cif"))
    single = [str(cif_paths[0])]  # stand-in for In1.7K2Se8Sn2.28 (not available to write)
    jobs = []
    for name in GROUPS["waves"]:
        spec = catalog.get(name)
        if spec.derived_from:
            continue
        restricted = name.endswith("_restricted")
        depth = sc.restricted_depth_nm if restricted else sc.depth_nm
        is_single = name.endswith("_single")
        jobs.append((name, single if is_single else str(ctx.cif_dir), str(ctx.stage / name),
                     ctx.seed, {"depth_nm": depth},
                     sc.single_draws if is_single else sc.wave_draws))
    list(ctx.map(_wave_job, jobs, "synth wavefunctions"))
    for name in GROUPS["waves"]:
        spec = catalog.get(name)
        if spec.derived_from:
            _derive_96(ctx, name, spec.derived_from)
            continue
        made = read_manifest(ctx.stage / name)  # splits in partition order (catalog.split_rank)
        items = [{"id": f"{s}/{i}.npy", "split": s, **_wave_facts(ctx.stage / name, s, i)}
                 for s, n in made.splits.items() for i in range(n)]
        note = (" Single material: a stand-in structure replaces In1.7K2Se8Sn2.28."
                if name.endswith("_single") else "")
        ctx.finish(name, made.splits, items, f"{made.description}; specimen depth shrunk to "
                   f"{made.generator['protocol']['depth_nm']} nm so it builds in seconds.{note}",
                   simulation=made.generator)


def _wave_facts(folder: Path, split: str, i: int) -> dict:
    """What wave ``split/i`` shows, from its simulation record: structure, zone axis, depth,
    voltage and pixel size (Angstrom)."""
    meta = json.loads(next((folder / split / "meta").glob(f"{i}-*.json")).read_text())
    hyper = meta["hyperparameters"]
    return {"formula": meta["formula"].replace(" ", ""), "zone_axis": hyper["zone_axis"],
            "depth_nm": round(hyper["depth_nm"], 3), "voltage_kv": meta["physics"]["voltage_kv"],
            "pixel_size_A": round(meta["physics"]["pixel_size_A"], 4)}


def _derive_96(ctx: BuildContext, name: str, parent: str) -> None:
    """96x96 variant: every parent wave, in split order, resized as the published arrays were."""
    from wemd.simulation.postprocess import CROP, to_small

    src = ctx.stage / parent
    counts = read_manifest(src).splits  # in partition order (catalog.split_rank)
    rows, items = [], []
    for split, n in counts.items():
        for i in range(n):
            rows.append(to_small(np.load(src / split / f"{i}.npy")))
            items.append(_derived_item(_wave_facts(src, split, i), (CROP / SMALL,) * 2,
                                       row=len(items), source=f"{parent}/{split}/{i}.npy"))
    save_npy(ctx.stage / name / f"{name}.npy", np.stack(rows).astype(np.float32))
    ctx.finish(name, counts, items, f"Synthetic {parent} resized to 96x96 (real, imaginary) "
               "with wemd.simulation.postprocess.to_small.")


#: Group -> builder. A new family: add its datasets to GROUPS and its builder here.
BUILDERS: dict[str, Callable[[BuildContext], None]] = {
    "cifs": _build_cifs, "stem": _build_stem, "tem": _build_tem, "focal": _build_focal,
    "waves": _build_waves,
}
assert set(BUILDERS) == set(GROUPS), "every group needs a builder"
