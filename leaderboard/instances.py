"""Instance generators: one dataset item + one seeded RNG -> (input, target, group labels).

Each task family has one generator. A generator draws every random number from the RNG it is
given, in a fixed order, so an instance depends only on (task seed, instance index) and the
item's bytes; ``Task.instances`` derives that RNG with ``numpy.random.SeedSequence``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, NamedTuple

import numpy as np

from wemd.errors import WEMDError
from wemd.leaderboard import scans


class TaskDataError(WEMDError, ValueError):
    """A dataset item cannot be turned into an instance of the task (wrong size, wrong kind)."""


class Instance(NamedTuple):
    """One test instance: named input arrays, the ground truth and its group labels."""

    input: dict[str, np.ndarray]
    target: np.ndarray
    groups: dict[str, str]


Generator = Callable[[dict[str, Any], np.ndarray, np.random.Generator, dict[str, Any]], Instance]


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/90-degree rotations of the first two axes (k in 0..7)."""
    out = np.rot90(image, k % 4, axes=(0, 1))
    return np.ascontiguousarray(out[:, ::-1] if k >= 4 else out)


def minmax(x: np.ndarray) -> np.ndarray:
    """Linearly map to [0, 1]; a constant image becomes zeros."""
    x = np.asarray(x, np.float64)
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi - lo > 0 else np.zeros_like(x)


def to_symmetric(x: np.ndarray) -> np.ndarray:
    """Non-finite -> 0, then linearly map to [-1, 1]; a range below 1e-6 becomes zeros."""
    x = np.nan_to_num(np.asarray(x, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-6:
        return np.zeros_like(x)
    return 2.0 * (x - lo) / (hi - lo) - 1.0


def bin_label(value: float, edges: tuple[float, ...], unit: str = "") -> str:
    """Label of the half-open bin [edges[k], edges[k+1]) holding ``value``; the last bin is open
    (>= the last edge), so task parameters hold finite numbers only, as records must."""
    for lo, hi in zip(edges[:-1], edges[1:]):
        if lo <= value < hi:
            return f"[{lo:g}, {hi:g}){unit}"
    if value >= edges[-1]:
        return f">= {edges[-1]:g}{unit}"
    return f"below {edges[0]:g}{unit}"


def label_key(label: str) -> tuple:
    """Sort key of group labels: by the first number in the label, then the text."""
    nums = re.findall(r"[-+]?\d*\.?\d+", label)
    return (float(nums[0]) if nums else math.inf, label)


def _plane(item: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(item)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 2:
        raise TaskDataError(f"{what}: expected a 2-D image, got shape {a.shape}.")
    return a


def _random_crop(img: np.ndarray, size: int, rng: np.random.Generator, what: str) -> np.ndarray:
    h, w = img.shape[:2]
    if h < size or w < size:
        raise TaskDataError(f"{what}: item of shape {img.shape[:2]} is smaller than the task's "
                            f"{size}x{size} crop; use data of the published size, or pass a "
                            f"smaller crop (crop=..., a non-standard protocol) for a quick test.")
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return img[y:y + size, x:x + size]


def _contrast_label(target: np.ndarray) -> str:
    return bin_label(float(np.std(target)), (0.0, 0.1, 0.3, math.inf), " std")


def tem_denoise(p: dict[str, Any], item: np.ndarray, rng: np.random.Generator,
                meta: dict[str, Any]) -> Instance:
    """Bin 2x, random crop, flip/rotate, [0,1]; Poisson noise at a sampled dose; min-max the noisy
    image; scale the clean image to the noisy image's mean (the paper's preprocessing)."""
    img = _plane(item, "tem_denoise")
    h, w = (img.shape[0] // 2) * 2, (img.shape[1] // 2) * 2
    binned = np.asarray(img[:h, :w], np.float64).reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    crop = _random_crop(binned, p["crop"], rng, "tem_denoise")
    clean = minmax(dihedral(crop, int(rng.integers(8))))
    if p["dose"] == "exponential":
        dose = p["dose_offset"] + rng.exponential(p["dose_scale"])
    else:
        dose = rng.uniform(p["dose_low"], p["dose_high"])
    noisy = minmax(rng.poisson(clean * dose))
    mean = clean.mean()
    target = clean * (noisy.mean() / mean) if mean > 0 else clean
    groups = {"dose": bin_label(dose, tuple(p["dose_bins"]), " e/px")}
    return Instance({"noisy": noisy.astype(np.float32)}, target.astype(np.float32), groups)


def stem_completion(p: dict[str, Any], item: np.ndarray, rng: np.random.Generator,
                    meta: dict[str, Any]) -> Instance:
    """[-1,1] crop, flip/rotate; sample along a spiral or jittered-grid path; blurred target."""
    img = to_symmetric(_plane(item, "stem_completion"))
    img = dihedral(_random_crop(img, p["crop"], rng, "stem_completion"), int(rng.integers(8)))
    if p["path"] == "spiral":
        mask = scans.spiral_mask(p["crop"], p["coverage"])
    else:
        mask = scans.jittered_grid_mask(p["crop"], p["coverage"], rng, p["jitter"])
    target = scans.blur(img)
    samples = np.where(mask, img, 0.0)
    groups = {"contrast": _contrast_label(target),
              "coverage": f"1/{1 / mask.mean():.1f}" if mask.any() else "0"}
    return Instance({"samples": samples.astype(np.float32), "mask": mask},
                    target.astype(np.float32), groups)


def stem_supersample(p: dict[str, Any], item: np.ndarray, rng: np.random.Generator,
                     meta: dict[str, Any]) -> Instance:
    """[-1,1] crop, flip/rotate; nearest-neighbour downsample; blurred full-size target."""
    img = to_symmetric(_plane(item, "stem_supersample"))
    img = dihedral(_random_crop(img, p["crop"], rng, "stem_supersample"), int(rng.integers(8)))
    idx = scans.nearest_indices(p["crop"], p["low_res"])
    low = img[np.ix_(idx, idx)]
    target = scans.blur(img)
    return Instance({"low_res": low.astype(np.float32)}, target.astype(np.float32),
                    {"contrast": _contrast_label(target)})


def stem_adaptive(p: dict[str, Any], item: np.ndarray, rng: np.random.Generator,
                  meta: dict[str, Any]) -> Instance:
    """Blur, then [-1,1]; the fixed-path track samples the blurred image along a spiral."""
    target = to_symmetric(scans.blur(_plane(item, "stem_adaptive")))
    mask = scans.spiral_mask(target.shape[0], p["coverage"])
    samples = np.where(mask, target, 0.0)
    return Instance({"samples": samples.astype(np.float32), "mask": mask},
                    target.astype(np.float32), {"contrast": _contrast_label(target)})


#: metadata keys that may hold each grouping quantity (first present wins)
_META_KEYS = {"voltage": ("voltage_kv", "voltage_used_kv", "voltage"),
              "depth": ("depth_nm", "depth"),
              "zone": ("zone", "zone_axis", "zone_hkl")}


def _meta_value(meta: dict[str, Any], what: str) -> Any:
    """A grouping quantity from the item's metadata: a top-level key, else one under
    ``hyperparameters`` (where ``wemd.simulation.runner`` records each wave's draw)."""
    hyper = meta.get("hyperparameters")
    for record in (meta, hyper if isinstance(hyper, dict) else {}):
        for key in _META_KEYS[what]:
            if record.get(key) is not None:
                return record[key]
    return None


def phase_groups(meta: dict[str, Any]) -> dict[str, str]:
    """Voltage, depth bin and zone axis of a wavefunction, from its simulation record."""
    volt, depth, zone = (_meta_value(meta, k) for k in ("voltage", "depth", "zone"))
    groups = {"voltage": "unknown" if volt is None else f"{float(volt):g} kV",
              "depth": "unknown" if depth is None else bin_label(float(depth), (0, 25, 50, 75, 100, math.inf), " nm"),
              "zone": "unknown" if zone is None else
              "[" + " ".join(str(int(z)) for z in np.ravel(zone)) + "]"}
    return groups


def phase(p: dict[str, Any], item: np.ndarray, rng: np.random.Generator,
          meta: dict[str, Any]) -> Instance:
    """Random crop and flip/rotate of an exit wave; input |psi|, target (cos, sin) of its phase."""
    wave = np.asarray(item)
    if not np.iscomplexobj(wave) or wave.ndim != 2:
        raise TaskDataError(f"phase: expected a 2-D complex wavefunction, got {wave.dtype} {wave.shape}.")
    wave = dihedral(_random_crop(wave, p["crop"], rng, "phase"), int(rng.integers(8)))
    theta = np.angle(wave)
    target = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    return Instance({"amplitude": np.abs(wave).astype(np.float32)}, target.astype(np.float32),
                    phase_groups(meta))


GENERATORS: dict[str, Generator] = {
    "tem_denoise": tem_denoise, "stem_completion": stem_completion,
    "stem_supersample": stem_supersample, "stem_adaptive": stem_adaptive, "phase": phase,
}
