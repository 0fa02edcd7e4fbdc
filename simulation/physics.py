"""Physical constants, electron optics and the Kirkland projected potential.

Units: Angstrom, volt, electronvolt. The parameter table is Kirkland's (2010, appendix C), shipped
in ``data/kirkland.json`` with its citation.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

import numpy as np
from scipy import constants as sc
from scipy.special import k0

#: 4 pi^2 a0 e and 2 pi^2 a0 e in V Angstrom^2, the values the table was fitted with (Kirkland
#: 2010, eq. C.20); a0 e is the Bohr radius times the elementary charge.
FOUR_PI2_A0E = 300.8242834
TWO_PI2_A0E = 150.4121417
_A0E = FOUR_PI2_A0E / (4 * np.pi**2)

TERMS_ALLOWED = (1, 3)


@functools.lru_cache(maxsize=1)
def kirkland_table() -> dict[int, dict]:
    """Kirkland's electron scattering factor fit for Z = 1..103: ``{Z: {symbol, a, b, c, d}}``."""
    raw = json.loads(resources.files("wemd.simulation").joinpath("data/kirkland.json").read_text())
    return {int(z): {k: (np.asarray(v, dtype=np.float64) if k != "symbol" else v)
                     for k, v in entry.items()} for z, entry in raw["elements"].items()}


def kirkland_citation() -> str:
    raw = json.loads(resources.files("wemd.simulation").joinpath("data/kirkland.json").read_text())
    return raw["citation"]


def _params(z: int, terms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if terms not in TERMS_ALLOWED:
        raise ValueError(f"terms must be one of {TERMS_ALLOWED} (n = 3: real physics, n = 1: the "
                         f"'alternate universe'), got {terms}")
    p = kirkland_table()[int(z)]
    return p["a"][:terms], p["b"][:terms], p["c"][:terms], p["d"][:terms]


def projected_potential(z: int, r: np.ndarray, terms: int = 3) -> np.ndarray:
    """The analytic projected potential v_z(r) of one atom in V Angstrom (Kirkland eq. C.20)."""
    a, b, c, d = _params(z, terms)
    r = np.asarray(r, dtype=np.float64)[..., None]
    return (FOUR_PI2_A0E * np.sum(a * k0(2 * np.pi * r * np.sqrt(b)), axis=-1)
            + TWO_PI2_A0E * np.sum(c / d * np.exp(-np.pi**2 * r**2 / d), axis=-1))


def projected_potential_fourier(z: int, k2: np.ndarray, terms: int = 3) -> np.ndarray:
    """The 2-D Fourier transform of v_z at spatial frequency squared ``k2`` (1/Angstrom^2).

    Transforming eq. C.20 term by term gives 2 pi a0 e f_e(k): Lorentzians a/(k^2 + b) and
    Gaussians c exp(-d k^2), in V Angstrom^3.
    """
    a, b, c, d = _params(z, terms)
    k2 = np.asarray(k2, dtype=np.float64)
    out = np.zeros_like(k2)
    for ai, bi, ci, di in zip(a, b, c, d):
        out += ai / (k2 + bi) + ci * np.exp(-di * k2)
    return 2 * np.pi * _A0E * out


def wavelength(voltage: float) -> float:
    """Relativistic electron wavelength in Angstrom at accelerating ``voltage`` in volts."""
    e_kin = sc.e * voltage
    p = np.sqrt(e_kin * (e_kin + 2 * sc.m_e * sc.c**2)) / sc.c
    return float(sc.h / p * 1e10)


def interaction_constant(voltage: float) -> float:
    """Relativistic interaction constant sigma = 2 pi m e lambda / h^2 in 1/(V Angstrom)."""
    mass = sc.m_e + sc.e * voltage / sc.c**2
    return float(2 * np.pi * mass * sc.e * wavelength(voltage) * 1e-10 / sc.h**2 * 1e-10)


def symbol(z: int) -> str:
    return kirkland_table()[int(z)]["symbol"]
