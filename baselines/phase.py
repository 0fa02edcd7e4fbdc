"""Phase-recovery baselines that ignore the amplitude: the floor a learned method must beat."""

from __future__ import annotations

import numpy as np


def uniform_random(amplitude: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Phase components drawn independently and uniformly from [-1, 1] (maximum entropy).

    For any target (cos t, sin t) the expected absolute error per pixel, averaged over the two
    components, is (1 + cos^2 t)/4 + (1 + sin^2 t)/4 = 3/4 exactly.
    """
    shape = np.shape(amplitude) + (2,)
    return rng.uniform(-1.0, 1.0, size=shape)


def constant(amplitude: np.ndarray) -> np.ndarray:
    """Zero phase everywhere: components (cos 0, sin 0) = (1, 0)."""
    out = np.zeros(np.shape(amplitude) + (2,))
    out[..., 0] = 1.0
    return out
