"""The papers' published numbers, shown on the board as reference rows.

They are *reported, not reproduced*: typed from the papers (thesis chapters 4-7, ALRC paper),
never computed by this package, and some were measured under a slightly different protocol
(noted per row). Keyed by task name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

STATUS = "reported, not reproduced"

TEM_PAPER = "Ede & Beanland 2019, Improving electron micrograph signal-to-noise with an atrous " \
            "convolutional encoder-decoder (thesis ch. 6), Table 1"
PSTEM_PAPER = "Ede & Beanland 2020, Partial scanning transmission electron microscopy with deep " \
              "learning (thesis ch. 4), authors' plotting script"
ALRC_PAPER = "Ede & Beanland 2020, Adaptive learning rate clipping stabilizes learning, Table 2"
EXIT_PAPER = "Ede et al., Exit wavefunction reconstruction from single transmission electron " \
             "micrographs with deep learning (thesis ch. 7), Table 2"


@dataclass(frozen=True)
class Reference:
    """One published result: metric name -> (mean, std or None)."""

    method: str
    metrics: dict[str, tuple[float, Optional[float]]]
    source: str
    note: str = ""
    status: str = field(default=STATUS)

    def as_dict(self) -> dict:
        return {"method": self.method, "source": self.source, "note": self.note,
                "status": self.status,
                "metrics": {k: {"mean": m, "std": s} for k, (m, s) in self.metrics.items()}}


def _tem(rows: dict[str, tuple[float, float, float, float]]) -> tuple[Reference, ...]:
    out = []
    for method, (mse_m, mse_s, ssim_m, ssim_s) in rows.items():
        out.append(Reference(method, {"mse_x1000": (mse_m, mse_s), "ssim": (ssim_m, ssim_s)}, TEM_PAPER,
                             note="SSIM data_range taken from each output's range in the paper"))
    return tuple(out)


_TEM_LOW = {
    "unfiltered": (4.357, 2.558, 0.454, 0.208),
    "gaussian 3x3, sigma 0.8": (0.816, 0.452, 0.685, 0.159),
    "bilateral 9x9, 75/75": (1.025, 1.152, 0.574, 0.261),
    "median 3x3": (1.083, 0.618, 0.618, 0.171),
    "wiener (default)": (1.068, 0.546, 0.681, 0.137),
    "wavelet BayesShrink": (0.832, 0.580, 0.657, 0.186),
    "chambolle TV 0.1": (0.746, 0.725, 0.680, 0.192),
    "bregman TV 0.1": (1.109, 1.031, 0.544, 0.268),
    "atrous encoder-decoder (DNN)": (0.562, 0.449, 0.752, 0.147),
}
_TEM_HIGH = {
    "unfiltered": (0.508, 0.682, 0.850, 0.123),
    "gaussian 3x3, sigma 0.8": (0.344, 0.334, 0.878, 0.087),
    "bilateral 9x9, 75/75": (1.243, 1.392, 0.600, 0.271),
    "median 3x3": (0.507, 0.512, 0.821, 0.126),
    "wiener (default)": (0.402, 0.389, 0.870, 0.085),
    "wavelet BayesShrink": (0.357, 0.312, 0.875, 0.085),
    "chambolle TV 0.1": (0.901, 0.909, 0.674, 0.217),
    "bregman TV 0.1": (4.074, 3.025, 0.348, 0.312),
    "atrous encoder-decoder (DNN)": (0.201, 0.169, 0.926, 0.057),
}

#: spiral coverage label -> published RMS of the partial-STEM generator (binary masks)
SPIRAL_RMS = {"17.9": 0.0377, "27.3": 0.0412, "38.2": 0.0451, "50.0": 0.0486, "60.5": 0.0525,
              "73.7": 0.0559, "87.0": 0.0621}

_ALRC = (("unchanged (no clipping)", 0.95, 1.33), ("ALRC n_down inf, n_up 3", 0.89, 1.68),
         ("ALRC n_down 3, n_up 3", 0.92, 1.77), ("CLRC n_down 1, ALRC n_up 3", 0.95, 2.30),
         ("DALRC n_down 3, n_up 3", 0.93, 1.57), ("DALRC n_down inf, n_up 2", 0.89, 1.51),
         ("DALRC n_down 2, n_up 2", 0.91, 1.34), ("DALRC n_down 1, n_up 2", 0.91, 1.54))

_RANDOM_PHASE = Reference("uniform random phase (max entropy)", {"phase_mae": (0.750, None)},
                          EXIT_PAPER, note="per-pixel std 0.520; per-image std is far smaller")

#: (physics, scope) -> rows of (method, mean, std)
_PHASE = {
    ("n3", "transforms"): (("multiple materials", 0.513, 0.234),),
    ("n3", "hyperparameters"): (("multiple materials", 0.717, 0.271),),
    ("n3", "materials"): (("multiple materials", 0.614, 0.344),),
    ("n1", "transforms"): (("multiple materials", 0.333, 0.220),),
    ("n1", "hyperparameters"): (("multiple materials", 0.525, 0.341),),
    ("n1", "materials"): (("multiple materials", 0.600, 0.334),),
    ("restricted", "transforms"): (("restricted parameters", 0.123, 0.069),),
    ("restricted", "materials"): (("restricted parameters", 0.260, 0.192),),
    ("single_n3", "transforms"): (("single material, MSE", 0.190, 0.079), ("single material, GAN", 0.633, 0.244)),
    ("single_n3", "hyperparameters"): (("single material, MSE", 0.281, 0.208), ("single material, GAN", 0.638, 0.249)),
    ("single_n3", "materials"): (("single material, MSE", 0.768, 0.235),),
    ("single_n1", "transforms"): (("single material, MSE", 0.135, 0.056), ("single material, GAN", 0.318, 0.279)),
    ("single_n1", "hyperparameters"): (("single material, MSE", 0.205, 0.157), ("single material, GAN", 0.321, 0.256)),
    ("single_n1", "materials"): (("single material, MSE", 0.708, 0.310),),
}


def tem(high: bool) -> tuple[Reference, ...]:
    return _tem(_TEM_HIGH if high else _TEM_LOW)


def spiral(label: str) -> tuple[Reference, ...]:
    return (Reference("partial-STEM generator (spiral, binary mask)", {"rms": (SPIRAL_RMS[label], None)},
                      PSTEM_PAPER),)


def supersample() -> tuple[Reference, ...]:
    rows = tuple(Reference(f"supersampling generator, {m}", {"mse_x200": (a, s)}, ALRC_PAPER)
                 for m, a, s in _ALRC)
    dlss = Reference("DLSS generator (grid, 1/24.7)", {"rms": (0.0334, None)}, PSTEM_PAPER,
                     note="thesis ch. 4 grid-based supersampling; its downsampling may differ")
    return rows + (dlss,)


def phase(physics: str, scope: str) -> tuple[Reference, ...]:
    note = "paper: validation split, 19992 examples; the board's task uses the test split" \
        if scope == "materials" else "paper: 19992 examples"
    rows = tuple(Reference(f"{m} generator", {"phase_mae": (a, s)}, EXIT_PAPER, note=note)
                 for m, a, s in _PHASE.get((physics, scope), ()))
    return rows + (_RANDOM_PHASE,)
