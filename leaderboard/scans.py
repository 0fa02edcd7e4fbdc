"""Scan paths and resampling used by the STEM tasks: spirals, jittered grids, blur, downsampling.

Masks are boolean arrays (True where the probe sampled). Spiral masks are fixed per
(size, coverage) and calibrated so the fraction of sampled pixels matches the published coverage
*after* cropping to the image (1/17.9 ... 1/87.0); their hashes enter the instance fingerprint,
so a machine whose floating point rasterised a pixel differently could never pass as identical.
"""

from __future__ import annotations

import functools
import hashlib
import math

import numpy as np


def gaussian_kernel(size: int = 5, sigma: float = 2.5) -> np.ndarray:
    """Normalised square Gaussian kernel (5x5, sigma 2.5 px is the papers' target blur)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    k = np.outer(g, g)
    return k / k.sum()


def blur(image: np.ndarray, size: int = 5, sigma: float = 2.5) -> np.ndarray:
    """The tasks' ground-truth low-pass: 5x5 Gaussian, sigma 2.5 px, mirror ('reflect') borders."""
    from scipy.ndimage import convolve

    return convolve(np.asarray(image, np.float64), gaussian_kernel(size, sigma), mode="reflect")


def _rasterise_spiral(size: int, spacing: float) -> np.ndarray:
    """Archimedes spiral r = spacing * theta / (2 pi) from the centre, rasterised to pixels."""
    centre = (size - 1) / 2.0
    r_max = math.sqrt(2) * size / 2 + 1
    theta_max = 2 * math.pi * r_max / spacing
    b = spacing / (2 * math.pi)
    # arc length of r = b theta is ~ b theta^2 / 2; sample every ~0.25 px of arc
    length = b * (theta_max ** 2 / 2 + theta_max) + 1
    s = np.linspace(0.0, length, int(length * 4) + 2)
    theta = np.sqrt(2 * s / b)
    r = b * theta
    y = np.rint(centre + r * np.sin(theta)).astype(np.int64)
    x = np.rint(centre + r * np.cos(theta)).astype(np.int64)
    keep = (y >= 0) & (y < size) & (x >= 0) & (x < size)
    mask = np.zeros((size, size), dtype=bool)
    mask[y[keep], x[keep]] = True
    return mask


@functools.lru_cache(maxsize=32)
def _spiral(size: int, coverage: float) -> np.ndarray:
    lo, hi = 1.0, 4.0 / coverage  # arm spacing in px; coverage falls as spacing grows
    for _ in range(40):
        mid = (lo + hi) / 2
        if _rasterise_spiral(size, mid).mean() > coverage:
            lo = mid
        else:
            hi = mid
    mask = _rasterise_spiral(size, hi)
    mask.setflags(write=False)
    return mask


def spiral_mask(size: int, coverage: float) -> np.ndarray:
    """Fixed Archimedes spiral path over a size x size image whose sampled fraction ~= coverage."""
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be in (0, 1), not {coverage}")
    return _spiral(int(size), float(coverage)).copy()


def jittered_grid_mask(size: int, coverage: float, rng: np.random.Generator,
                       jitter: int = 2) -> np.ndarray:
    """Grid of full horizontal and vertical scan lines, each shifted by up to +-jitter px.

    Line spacing s solves 1 - (1 - 1/s)^2 = coverage; the grid's origin is uniform in [0, s).
    """
    spacing = 1.0 / (1.0 - math.sqrt(1.0 - coverage))
    mask = np.zeros((size, size), dtype=bool)
    for axis in (0, 1):
        start = rng.uniform(0, spacing)
        pos = np.rint(start + spacing * np.arange(int(size / spacing) + 1)).astype(np.int64)
        pos = pos + rng.integers(-jitter, jitter + 1, size=pos.size)
        pos = pos[(pos >= 0) & (pos < size)]
        if axis == 0:
            mask[pos, :] = True
        else:
            mask[:, pos] = True
    return mask


def nearest_indices(size: int, out: int) -> np.ndarray:
    """Pixel centres picked by nearest-neighbour downsampling from ``size`` to ``out`` pixels."""
    return np.minimum(((np.arange(out) + 0.5) * size / out).astype(np.int64), size - 1)


def mask_digest(mask: np.ndarray) -> str:
    """sha256 of a mask's packed bits and shape (enters instance fingerprints)."""
    h = hashlib.sha256(str(mask.shape).encode())
    h.update(np.packbits(np.asarray(mask, bool)).tobytes())
    return h.hexdigest()
