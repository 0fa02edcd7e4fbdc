"""Per-instance metrics with the exact parameters the task protocols name, and their summaries.

Every function takes one prediction and one target (same shape, float) and returns a float.
``summarize`` turns per-instance values into mean, standard deviation and standard error.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

#: SSIM parameters of every denoising task (scikit-image defaults, stated explicitly).
SSIM_PARAMS = {"win_size": 7, "K1": 0.01, "K2": 0.03, "gaussian_weights": False,
               "use_sample_covariance": True, "data_range": 1.0}


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error over all pixels."""
    d = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    return float(np.mean(d * d))


def mse_x1000(pred: np.ndarray, target: np.ndarray) -> float:
    """MSE x 1000, the unit of the TEM denoising paper's Table 1."""
    return 1000.0 * mse(pred, target)


def mse_x200(pred: np.ndarray, target: np.ndarray) -> float:
    """MSE x 200 on the [-1, 1] scale, the unit of the ALRC paper's Table 2."""
    return 200.0 * mse(pred, target)


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """SSIM with a 7x7 uniform window, K1 = 0.01, K2 = 0.03 and a fixed data_range of 1."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(np.asarray(target, np.float64), np.asarray(pred, np.float64),
                                       **SSIM_PARAMS))


def rms_01(pred: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error on the [0, 1] intensity scale, for data stored on [-1, 1]."""
    return math.sqrt(mse(pred, target)) / 2.0


def phase_mae(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error of the phase components (cos, sin), over pixels and both channels."""
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - np.asarray(target, np.float64))))


#: name -> (function, lower is better, description)
METRICS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], float], bool, str]] = {
    "mse_x1000": (mse_x1000, True, "MSE x 1000 on [0, 1], outputs clipped to [0, 1]"),
    "ssim": (ssim, False, "SSIM, 7x7 uniform window, K1 0.01, K2 0.03, data_range 1, "
                          "outputs clipped to [0, 1]"),
    "rms": (rms_01, True, "RMS error on the [0, 1] scale (data on [-1, 1], error / 2)"),
    "mse_x200": (mse_x200, True, "MSE x 200 on the [-1, 1] scale"),
    "mse": (mse, True, "MSE on the [-1, 1] scale"),
    "phase_mae": (phase_mae, True, "MAE of (cos, sin) phase components"),
}


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Mean, population standard deviation, standard error of the mean, and count."""
    v = np.asarray(values, dtype=np.float64)
    n = int(v.size)
    if n == 0:
        return {"mean": float("nan"), "std": float("nan"), "se": float("nan"), "n": 0}
    std = float(v.std())
    se = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"mean": float(v.mean()), "std": std, "se": se, "n": n}
