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


def standard_view(wave: np.ndarray, grid: int, crop: int = CROP) -> np.ndarray:
    """The stored field of view of an exit wave simulated on any grid: the central
    ``crop / grid`` of it (the protocol's crop of its ``grid``), resampled to ``crop`` pixels by
    cropping its spectrum (band-limited; amplitudes kept). On the protocol's own grid this is
    :func:`crop_center`."""
    n = wave.shape[-1]
    size = n * crop // grid
    if size * grid != n * crop or (n - size) % 2:
        raise ValueError(f"a {n}-pixel wave has no exact view of the central {crop}/{grid} of "
                         "the box; simulate on a multiple of the protocol's view step")
    view = crop_center(wave, size)
    if size == crop:
        return view
    if size < crop:
        raise ValueError(f"a {n}-pixel wave is coarser than the protocol's {grid} grid")
    spectrum = np.fft.fftshift(np.fft.fft2(view.astype(np.complex128)), axes=(-2, -1))
    kept = crop_center(spectrum, crop)
    out = np.fft.ifft2(np.fft.ifftshift(kept, axes=(-2, -1))) * (crop / size) ** 2
    return out.astype(np.complex64)


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
