"""Supersampling by classical resampling (Pillow), pixel centres aligned as in the downsampling."""

from __future__ import annotations

import numpy as np


def _resize(low: np.ndarray, size: int, method: str) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.asarray(low, np.float32), mode="F")
    filt = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}[method]
    return np.asarray(img.resize((size, size), resample=filt), np.float64)


def bicubic(low: np.ndarray, size: int) -> np.ndarray:
    """Bicubic convolution (Keys, a = -0.5) upsampling to ``size`` x ``size``."""
    return _resize(low, size, "bicubic")


def lanczos(low: np.ndarray, size: int) -> np.ndarray:
    """Lanczos (a = 3) upsampling to ``size`` x ``size``."""
    return _resize(low, size, "lanczos")
