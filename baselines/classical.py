"""Registry of the classical baselines, by task family.

A :class:`Method` turns one instance's input dict into a prediction. ``methods(family)`` lists
those that apply to a task family; ``get_method(family, name)`` looks one up with a clear error.
The leaderboard's ``run_baseline`` streams instances through a method and scores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from wemd.baselines import completion, denoise, phase, supersample
from wemd.errors import UnknownNameError, close_matches, did_you_mean


Predict = Callable[[dict[str, np.ndarray], np.random.Generator, dict[str, Any]], np.ndarray]


class UnknownMethodError(UnknownNameError):
    def __init__(self, family: str, name: str, valid: list[str]):
        super().__init__(f"No classical baseline {name!r} for {family} tasks."
                         f"{did_you_mean(close_matches(name, valid))} Available: {', '.join(valid)}.")


@dataclass(frozen=True)
class Method:
    """One classical baseline: ``predict(inputs, rng, task_params) -> prediction``."""

    name: str
    family: str
    predict: Predict
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    stochastic: bool = False
    slow: bool = False  # seconds or more per 512x512 instance
    code: str = ""  # dotted path of the function that does the work


def _doc(fn: Callable[..., Any]) -> str:
    return " ".join((fn.__doc__ or "").split("\n\n")[0].split())


def _code(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__name__}"


def _denoiser(name: str, fn: Callable[[np.ndarray], np.ndarray], params: dict[str, Any],
              slow: bool = False) -> Method:
    return Method(name, "tem_denoise", lambda x, rng, p: fn(x["noisy"]), _doc(fn), params,
                  slow=slow, code=_code(fn))


def _completer(name: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], family: str,
               slow: bool = False) -> Method:
    return Method(name, family, lambda x, rng, p: fn(x["samples"], x["mask"]), _doc(fn),
                  {"interpolation": name}, slow=slow, code=_code(fn))


def _upsampler(name: str, fn: Callable[[np.ndarray, int], np.ndarray]) -> Method:
    return Method(name, "stem_supersample", lambda x, rng, p: fn(x["low_res"], p["crop"]),
                  _doc(fn), {"resample": name}, code=_code(fn))


_METHODS: list[Method] = [
    _denoiser("unfiltered", denoise.unfiltered, {}),
    _denoiser("gaussian", denoise.gaussian, {"size": 3, "sigma": 0.8}),
    _denoiser("bilateral", denoise.bilateral, {"win_size": 9, "sigma_color": 75, "sigma_spatial": 75}),
    _denoiser("median", denoise.median, {"size": 3}),
    _denoiser("wiener", denoise.wiener, {"mysize": 3}),
    _denoiser("wavelet", denoise.wavelet, {"method": "BayesShrink", "mode": "soft", "wavelet": "db1"}),
    _denoiser("tv_chambolle", denoise.tv_chambolle, {"weight": 0.1}),
    _denoiser("tv_bregman", denoise.tv_bregman, {"weight": 0.1}),
    _denoiser("fourier_wiener", denoise.fourier_wiener,
              {"over_subtraction": 2.0, "power_average": "3x3"}),
    _denoiser("bm3d", denoise.bm3d, {"sigma_psd": "estimate_sigma"}, slow=True),
    *[_completer(n, f, fam, slow=(n == "biharmonic"))
      for fam in ("stem_completion", "stem_adaptive")
      for n, f in (("nearest", completion.nearest), ("linear", completion.linear),
                   ("cubic", completion.cubic), ("biharmonic", completion.biharmonic))],
    _upsampler("bicubic", supersample.bicubic),
    _upsampler("lanczos", supersample.lanczos),
    Method("uniform_random", "phase", lambda x, rng, p: phase.uniform_random(x["amplitude"], rng),
           _doc(phase.uniform_random), {"low": -1, "high": 1}, stochastic=True,
           code=_code(phase.uniform_random)),
    Method("constant", "phase", lambda x, rng, p: phase.constant(x["amplitude"]),
           _doc(phase.constant), {"theta": 0.0}, code=_code(phase.constant)),
]


def methods(family: str) -> dict[str, Method]:
    """The classical baselines that apply to a task family, by name."""
    return {m.name: m for m in _METHODS if m.family == family}


def get_method(family: str, name: str) -> Method:
    """One baseline by task family and name, or an error listing the available ones."""
    found = methods(family)
    if name not in found:
        raise UnknownMethodError(family, name, list(found))
    return found[name]
