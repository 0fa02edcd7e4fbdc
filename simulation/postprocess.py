"""From a 512x512 exit wave to what WEMD stores: centre crop, unit mean amplitude, 96x96 copies."""

from __future__ import annotations

import numpy as np

CROP = 320
SMALL = 96


def crop_center(wave: np.ndarray, size: int = CROP) -> np.ndarray:
    """The central ``size`` x ``size`` region (offset 96 for 512 -> 320), dropping edge artefacts."""
    ny, nx = wave.shape[-2:]
    if size > min(ny, nx):
        raise ValueError(f"cannot crop {size}x{size} from {ny}x{nx}")
    oy, ox = (ny - size) // 2, (nx - size) // 2
    return wave[..., oy:oy + size, ox:ox + size]


def normalise(wave: np.ndarray) -> np.ndarray:
    """Divide by the mean amplitude (mean |psi| = 1) and store as complex64."""
    mean = float(np.mean(np.abs(wave)))
    if not np.isfinite(mean) or mean <= 0:
        raise ValueError("exit wave has no finite, positive mean amplitude")
    return (wave / mean).astype(np.complex64)


def to_small(wave: np.ndarray, size: int = SMALL) -> np.ndarray:
    """[size, size, 2] float32 (real, imaginary) by scikit-image's default resize.

    ``skimage.transform.resize`` defaults: bilinear (order 1) with Gaussian anti-aliasing when
    downsampling, applied to the real and imaginary parts separately.
    """
    from skimage.transform import resize

    parts = [resize(part.astype(np.float64), (size, size), order=1, anti_aliasing=True)
             for part in (wave.real, wave.imag)]
    return np.stack(parts, axis=-1).astype(np.float32)
