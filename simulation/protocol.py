"""The WEMD simulation protocols and deterministic hyperparameter draws.

One draw is fixed by (CIF name, draw index, seed): the same triple gives the same numbers on any
machine and in any order, so runs resume and scale out without coordination.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional

import numpy as np

from wemd.errors import WEMDError
from wemd.simulation.geometry import GRID_SIZE
from wemd.simulation.postprocess import CROP


class ProtocolError(WEMDError, ValueError):
    """An unknown protocol, variant or override."""


@dataclass(frozen=True)
class Protocol:
    """Ranges the hyperparameters are drawn from (lengths in nm, angles in degrees, kV)."""

    name: str
    voltages_kv: tuple[float, ...] = (80.0, 200.0, 300.0)
    depth_nm: tuple[float, float] = (5.0, 100.0)
    width_nm: tuple[float, float] = (5.0, 10.0)
    zone_max: int = 2
    tilt_sd_deg: float = 0.1
    terms: int = 3
    draws_per_cif: int = 3
    grid: int = GRID_SIZE
    crop: int = CROP
    slice_thickness: float = 1.0
    #: Non-standard finer sampling (``--grid N`` / ``--sampling A``): the simulation grid, or
    #: the pixel size in Angstrom. ``grid`` keeps defining the stored field of view (the central
    #: ``crop / grid`` of the box), which is resampled to ``crop`` pixels.
    sim_grid: Optional[int] = None
    sampling: Optional[float] = None
    #: Imaging parameters the original script drew (uniformly); they shape images, not the
    #: exit wave. Objective aperture, defocus spread and illumination convergence included.
    imaging: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        "aperture_mrad": (5.0, 30.0), "delta_nm": (0.0, 20.0), "alpha_mrad": (0.1, 2.0),
        "C10_nm": (-30.0, 30.0), "C12_mag_nm": (-50.0, 50.0), "C12_ang_deg": (0.0, 180.0),
        "C21_mag_nm": (-1000.0, 1000.0), "C21_ang_deg": (0.0, 180.0),
        "C23_mag_nm": (-1000.0, 1000.0), "C23_ang_deg": (0.0, 180.0),
        "C30_um": (-500.0, 500.0)})

    def overridden(self, overrides: Optional[dict[str, Any]]) -> "Protocol":
        """A copy with some ranges replaced (e.g. smaller boxes for a quick stand-in)."""
        if not overrides:
            return self
        unknown = set(overrides) - set(self.__dataclass_fields__) - {"name"}
        if unknown:
            raise ProtocolError(f"unknown protocol fields {sorted(unknown)}; valid: "
                                f"{', '.join(self.__dataclass_fields__)}")
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        return replace(self, **fixed)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def standard_sampling(self) -> bool:
        """False for ``--grid`` / ``--sampling`` runs (recorded as non-standard)."""
        return self.sim_grid is None and self.sampling is None

    def grid_for(self, width: float) -> int:
        """Simulation grid (pixels per side) for a crystal ``width`` Angstrom wide."""
        if self.sim_grid is not None:
            return int(self.sim_grid)
        if self.sampling is not None:
            import scipy.fft

            from wemd.simulation.geometry import LATERAL_PADDING

            n = int(np.ceil((width + 2 * LATERAL_PADDING) / self.sampling))
            while True:  # a size with small prime factors (fast FFTs) that views exactly
                n = scipy.fft.next_fast_len(n, real=True)
                if n % self.view_step == 0:
                    return n
                n += 1
        return self.grid

    @property
    def view_step(self) -> int:
        """Simulation grids must be multiples of this so that the stored view (the central
        ``crop / grid`` of the box) is a whole, even number of pixels with the same origin."""
        step = self.grid // math.gcd(self.grid, self.crop)
        return step * 2 if (step * self.crop // self.grid) % 2 else step

    def largest_grid(self) -> int:
        """The largest simulation grid any draw of this protocol can need."""
        return self.grid_for(self.width_nm[1] * 10.0)


#: Overrides for quick stand-ins (tests, the synthetic mini-WEMD): 0.5-1 nm deep, 0.8-1 nm wide
#: crystals on a 320 grid (= the stored crop), a few tens of milliseconds per wave. Metadata
#: and ``wemd.json`` record them, so such a set is never mistaken for the protocol's.
QUICK_OVERRIDES: dict[str, Any] = {"depth_nm": (0.5, 1.0), "width_nm": (0.8, 1.0), "grid": 320}

FULL = Protocol("full")
RESTRICTED = Protocol("restricted", depth_nm=(5.0, 23.75), width_nm=(5.0, 6.25), zone_max=1,
                      tilt_sd_deg=0.025)
#: The single-material sets drew 5000 times from one CIF, In1.7K2Se8Sn2.28, at full ranges.
SINGLE = Protocol("single", draws_per_cif=5000)
PROTOCOLS = {p.name: p for p in (FULL, RESTRICTED, SINGLE)}

#: variant -> (protocol, Kirkland terms, 96x96 output)
VARIANTS: dict[str, tuple[Protocol, int, bool]] = {
    "wavefunctions": (FULL, 3, False),
    "wavefunctions_unseen": (FULL, 3, False),
    "wavefunctions_restricted": (RESTRICTED, 3, False),
    "wavefunctions_single": (SINGLE, 3, False),
    "wavefunctions_n1": (FULL, 1, False),
    "wavefunctions_n1_unseen": (FULL, 1, False),
    "wavefunctions_n1_single": (SINGLE, 1, False),
    "wavefunctions_96x96": (FULL, 3, True),
    "wavefunctions_96x96_restricted": (RESTRICTED, 3, True),
    "wavefunctions_96x96_single": (SINGLE, 3, True),
}


def variant_protocol(variant: str, overrides: Optional[dict[str, Any]] = None) -> tuple[Protocol, bool]:
    """The protocol (terms set) of a wavefunction variant and whether it is stored at 96x96."""
    if variant not in VARIANTS:
        raise ProtocolError(f"{variant!r} is not a wavefunction variant; choose one of "
                            f"{', '.join(VARIANTS)}")
    protocol, terms, small = VARIANTS[variant]
    return replace(protocol, terms=terms).overridden(overrides), small


def draw_rng(cif_name: str, draw: int, seed: int, stream: str) -> np.random.Generator:
    """An independent generator for one (CIF, draw, seed) and purpose (``stream``)."""
    digest = hashlib.sha256(f"{cif_name}\0{draw}\0{seed}\0{stream}".encode()).digest()
    return np.random.default_rng(np.frombuffer(digest, dtype=np.uint32))


def sample_hyperparameters(protocol: Protocol, cif_name: str, draw: int, seed: int) -> dict[str, Any]:
    """Every hyperparameter of one simulation, drawn deterministically from the protocol.

    Zone axes are drawn from {0..zone_max}^3; a (0, 0, 0) draw is undefined (the original
    pipeline crashed on it), so it is redrawn and the number of redraws recorded.
    """
    rng = draw_rng(cif_name, draw, seed, "hyperparameters")
    voltage_kv = float(rng.choice(protocol.voltages_kv))
    depth_nm = float(rng.uniform(*protocol.depth_nm))
    width_nm = float(rng.uniform(*protocol.width_nm))
    redraws = 0
    while True:
        zone = tuple(int(v) for v in rng.integers(0, protocol.zone_max + 1, size=3))
        if any(zone):
            break
        redraws += 1
    tilts = [float(t) for t in rng.normal(0.0, protocol.tilt_sd_deg, size=3)]
    imaging = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in sorted(protocol.imaging.items())}
    return {"voltage_kv": voltage_kv, "depth_nm": depth_nm, "width_nm": width_nm,
            "zone_axis": list(zone), "zone_000_redraws": redraws, "tilt_deg": tilts,
            "imaging": imaging}
