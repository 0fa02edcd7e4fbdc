"""Scan completion by interpolating the scattered samples of a partial scan.

Inputs are the task's ``samples`` (values on the path, 0 elsewhere) and ``mask`` (the path).
Pixels outside the samples' convex hull, where linear and cubic interpolation are undefined,
take the nearest sample's value.
"""

from __future__ import annotations

import numpy as np


def _interpolate(samples: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
    from scipy.interpolate import griddata

    mask = np.asarray(mask, bool)
    if not mask.any():
        return np.zeros(mask.shape)
    pts = np.argwhere(mask)
    vals = np.asarray(samples, np.float64)[mask]
    grid = tuple(np.indices(mask.shape))
    out = griddata(pts, vals, grid, method=method)
    if method != "nearest":
        holes = ~np.isfinite(out)
        if holes.any():
            out[holes] = griddata(pts, vals, tuple(g[holes] for g in grid), method="nearest")
    return out


def nearest(samples: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Nearest-sample interpolation."""
    return _interpolate(samples, mask, "nearest")


def linear(samples: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation on the samples' Delaunay triangulation."""
    return _interpolate(samples, mask, "linear")


def cubic(samples: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Clough-Tocher piecewise-cubic interpolation (scipy.interpolate.griddata 'cubic')."""
    return _interpolate(samples, mask, "cubic")


def biharmonic(samples: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Biharmonic inpainting of the unsampled pixels (scikit-image ``inpaint_biharmonic``)."""
    from skimage.restoration import inpaint_biharmonic

    mask = np.asarray(mask, bool)
    if not mask.any():
        return np.zeros(mask.shape)
    return inpaint_biharmonic(np.asarray(samples, np.float64), ~mask)
