"""Simulation backends: the built-in NumPy engine, abTEM (optional, GPL) and an installed clTEM.

Every backend turns one job (a CIF and its drawn hyperparameters) into a 512x512 complex exit
wave plus a record of what it actually did. ``numpy`` and ``abtem`` share the geometry of
:mod:`wemd.simulation.geometry` and the Kirkland n-term parametrisation, so they see identical
atoms on identical grids; ``cltem`` hands the CIF, box, zone axis and tilts to ``clTEM_cmd``,
which builds its own supercell.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Protocol as TypingProtocol

import numpy as np

from wemd.errors import WEMDError, close_matches, did_you_mean, require
from wemd.simulation.cif import Crystal
from wemd.simulation.geometry import build_specimen, check_specimen_size, pixel_size
from wemd.simulation.multislice import Atoms, Grid, NormRecord, multislice
from wemd.simulation.physics import interaction_constant, kirkland_table, symbol
from wemd.simulation.protocol import Protocol, draw_rng


class BackendError(WEMDError, RuntimeError):
    """A backend is misconfigured or failed on one job."""


@dataclass
class Job:
    """One simulation: a crystal, its drawn hyperparameters and where they came from."""

    cif_path: Path
    crystal: Crystal
    hyper: dict[str, Any]
    protocol: Protocol
    draw: int
    seed: int

    def specimen(self) -> tuple[Atoms, Grid]:
        """The padded atoms and the simulation grid, drawn reproducibly for this job."""
        width = self.hyper["width_nm"] * 10.0
        depth = self.hyper["depth_nm"] * 10.0
        rng = draw_rng(self.crystal.name, self.draw, self.seed, "occupancy")
        atoms = build_specimen(self.crystal, self.hyper["zone_axis"], self.hyper["tilt_deg"],
                               width, depth, rng, self.protocol.slice_thickness)
        n = self.protocol.grid_for(width)
        grid = Grid((n, n), (atoms.box[0], atoms.box[1]))
        return atoms, grid


class Backend(TypingProtocol):
    """What the runner needs from a backend."""

    name: str

    def version(self) -> str: ...

    def software(self) -> dict[str, str]: ...

    def run(self, job: Job) -> tuple[np.ndarray, dict[str, Any]]: ...


def _physics_record(voltage_kv: float, terms: int, grid: Grid, slices: int) -> dict[str, Any]:
    return {"voltage_kv": voltage_kv, "interaction_constant_per_V_A":
            interaction_constant(voltage_kv * 1e3), "kirkland_terms": terms,
            "pixel_size_A": grid.sampling[0], "grid": list(grid.shape), "slices": slices}


def software_versions(*modules: str) -> dict[str, str]:
    """Versions of gemmi, numpy, scipy and the named extra ``modules`` (e.g. torch, abtem)."""
    import importlib

    out = {}
    for name in ("gemmi", "numpy", "scipy", *modules):
        try:
            out[name] = str(importlib.import_module(name).__version__)
        except ImportError:
            out[name] = "not installed"
    return out


class AtomsBackend(ABC):
    """A backend that simulates the atoms :mod:`~wemd.simulation.geometry` builds, on the
    protocol's grid; subclasses provide ``exit_wave_from_atoms``."""

    #: modules besides gemmi, numpy and scipy whose versions the software record names
    modules: tuple[str, ...] = ()

    @abstractmethod
    def exit_wave_from_atoms(self, atoms: Atoms, grid: Grid, voltage_kv: float, terms: int,
                             slice_thickness: float = 1.0,
                             record: Optional[NormRecord] = None) -> np.ndarray:
        """The exit wave (complex64, grid shape) of a plane wave through ``atoms``; ``record``
        receives the intensity accounting where the engine keeps one."""

    def software(self) -> dict[str, str]:
        return software_versions(*self.modules)

    def run(self, job: Job) -> tuple[np.ndarray, dict[str, Any]]:
        atoms, grid = job.specimen()
        record = NormRecord()
        wave = self.exit_wave_from_atoms(atoms, grid, job.hyper["voltage_kv"], job.protocol.terms,
                                         job.protocol.slice_thickness, record)
        slices = int(round(atoms.box[2] / job.protocol.slice_thickness))
        norms = record.to_json() if self.name != "abtem" else {
            "intensity": round(float(np.mean(np.abs(wave.astype(np.complex128)) ** 2)), 6)}
        return wave, {**_physics_record(job.hyper["voltage_kv"], job.protocol.terms, grid, slices),
                      "atoms": len(atoms.numbers), "norm": norms}


class NumpyBackend(AtomsBackend):
    """The built-in engine (:func:`wemd.simulation.multislice.multislice`)."""

    name = "numpy"

    def __init__(self, workers: int = -1):
        self.workers = workers

    def version(self) -> str:
        from wemd import __version__

        return f"wemd {__version__} (numpy {np.__version__})"

    def exit_wave_from_atoms(self, atoms: Atoms, grid: Grid, voltage_kv: float, terms: int,
                             slice_thickness: float = 1.0,
                             record: Optional[NormRecord] = None) -> np.ndarray:
        return multislice(atoms, grid, voltage_kv * 1e3, slice_thickness, terms, self.workers,
                          record=record)


class TorchBackend(AtomsBackend):
    """The built-in engine's algorithm in PyTorch (:mod:`wemd.simulation.torch_engine`), on
    ``device`` ("cpu", "cuda", "cuda:1"); ``pip install 'wemd[torch]'``."""

    name = "torch"
    modules = ("torch",)

    def __init__(self, device: str = "cpu", workers: Optional[int] = None):
        from wemd.simulation.torch_engine import torch_device

        self.torch = require("torch", "torch")
        self.device = str(torch_device(device))
        if workers is not None and workers > 0:
            self.torch.set_num_threads(workers)

    def version(self) -> str:
        from wemd import __version__

        return f"wemd {__version__} (torch {self.torch.__version__}, {self.device})"

    def exit_wave_from_atoms(self, atoms: Atoms, grid: Grid, voltage_kv: float, terms: int,
                             slice_thickness: float = 1.0,
                             record: Optional[NormRecord] = None) -> np.ndarray:
        from wemd.simulation.torch_engine import multislice_torch

        return multislice_torch(atoms, grid, voltage_kv * 1e3, slice_thickness, terms,
                                self.device, record)


def kirkland_parameters(species: tuple[int, ...], terms: int) -> dict[str, np.ndarray]:
    """Kirkland (4 x 3) parameter arrays per element symbol, later terms zeroed for n = 1."""
    out = {}
    for z in species:
        p = kirkland_table()[z]
        arr = np.array([p["a"], p["b"], p["c"], p["d"]], dtype=np.float64)
        arr[0, terms:] = 0.0  # Lorentzian amplitudes
        arr[2, terms:] = 0.0  # Gaussian amplitudes (b, d stay non-zero: no 0/0)
        out[symbol(z)] = arr
    return out


class AbtemBackend(AtomsBackend):
    """abTEM (``pip install 'wemd[abtem]'``, GPL-3.0) on the same atoms, grid and parametrisation.

    Infinite projection, 1 A slices, a hard 2/3 band limit (abTEM's taper set to zero), Kirkland
    parameters with the same number of terms as the built-in engine.
    """

    name = "abtem"
    modules = ("abtem", "ase")

    def __init__(self) -> None:
        self.abtem = require("abtem", "abtem")

    def version(self) -> str:
        return f"abTEM {self.abtem.__version__}"

    def exit_wave_from_atoms(self, atoms: Atoms, grid: Grid, voltage_kv: float, terms: int,
                             slice_thickness: float = 1.0,
                             record: Optional[NormRecord] = None) -> np.ndarray:
        abtem = self.abtem
        ase = require("ase", "abtem")
        from abtem.parametrizations import KirklandParametrization

        structure = ase.Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.box,
                              pbc=True)
        parametrization = KirklandParametrization(kirkland_parameters(atoms.species, terms))
        with abtem.config.set({"antialias.taper": 0.0, "precision": "float32", "device": "cpu"}):
            potential = abtem.Potential(structure, gpts=grid.shape, slice_thickness=slice_thickness,
                                        parametrization=parametrization, projection="infinite")
            wave = abtem.PlaneWave(energy=voltage_kv * 1e3).multislice(potential, lazy=False)
        return np.asarray(wave.array, dtype=np.complex64)


#: clTEM's SimulationMode enum value for CTEM (src/simulation/utilities/enums.h: None = 0,
#: CTEM = 1, STEM = 2, CBED = 3; clTEM maps None to CTEM, and echoes id 1 in its outputs).
CLTEM_CTEM_MODE = 1


def cltem_config(hyper: dict[str, Any], protocol: Protocol) -> dict[str, Any]:
    """The clTEM JSON config with every value as clTEM reads it (``{"val": ...}`` objects).

    The original pipeline wrote bare numbers for voltage, aperture, delta and alpha, which
    clTEM ignores (it kept its 200 kV default); here every key is nested as clTEM's
    ``JsonToManager`` expects. Units: voltage kV; aperture and alpha mrad; delta, C10, C12, C21
    and C23 nm; C30 um; angles degrees.
    """
    im = hyper["imaging"]
    return {
        "mode": {"id": CLTEM_CTEM_MODE, "name": "CTEM"},
        "resolution": protocol.grid,
        "slice thickness": {"val": protocol.slice_thickness, "units": "Å"},
        "slice offset": {"val": 0.0, "units": "Å"},
        "full 3d": {"state": False},
        "potentials": "kirkland",
        "microscope": {
            "voltage": {"val": hyper["voltage_kv"], "units": "kV"},
            # "aperture" for the clTEM the study ran; current clTEM (JJPPeters/clTEM HEAD,
            # utilities/jsonutils.cpp) reads "objective aperture" / "semi-angle" instead
            "aperture": {"val": im["aperture_mrad"], "units": "mrad"},
            "objective aperture": {"semi-angle": im["aperture_mrad"], "units": "mrad"},
            "alpha": {"val": im["alpha_mrad"], "units": "mrad"},
            "delta": {"val": im["delta_nm"], "units": "nm"},
            "aberrations": {
                "C10": {"val": im["C10_nm"], "units": "nm"},
                "C12": {"mag": im["C12_mag_nm"], "ang": im["C12_ang_deg"], "units": "nm, °"},
                "C21": {"mag": im["C21_mag_nm"], "ang": im["C21_ang_deg"], "units": "nm, °"},
                "C23": {"mag": im["C23_mag_nm"], "ang": im["C23_ang_deg"], "units": "nm, °"},
                "C30": {"val": im["C30_um"], "units": "μm"},
            },
        },
    }


class CltemBackend:
    """Runs an installed ``clTEM_cmd`` and reads its EW_amplitude.tif / EW_phase.tif.

    The command line, config keys and output format follow clTEM's source and are tested
    against a stand-in executable that checks them. clTEM itself (JJPPeters/clTEM a83b37c, the
    console program) builds on Debian 12 against pocl 3.1 and parses this backend's command
    line, config and a COD-style CIF (it needs the ``_symmetry_equiv_pos_as_xyz`` loop COD
    files carry), but unpatched every simulation stops at its first buffer fill with
    CL_INVALID_VALUE: ``clMemory::Fill`` passes a pointer as the fill pattern and an element
    count as the byte size, which a conforming OpenCL (pocl checks it) refuses. With that one
    line fixed in a local copy, this backend ran clTEM for real: mean amplitudes within 0.1 %
    of the NumPy engine's and amplitude/phase spreads within 8 % on Si, MgO and SrTiO3; the
    waves differ pixel by pixel because clTEM fits the field to the atoms it kept (23.08 A of a
    23.9 A box) rather than to the box, so its pixels fall elsewhere.

    ``executable`` defaults to ``$WEMD_CLTEM`` or ``clTEM_cmd`` on the PATH; ``device`` is passed
    to ``-d``. Current clTEM sums all three Kirkland terms; the n = 1 universe came from an older
    kernel, so n = 1 variants need ``kernel_terms=1`` to declare such a build.
    """

    name = "cltem"

    def __init__(self, executable: Optional[str] = None, device: str = "default",
                 kernel_terms: int = 3, timeout: Optional[float] = None):
        exe = executable or os.environ.get("WEMD_CLTEM") or "clTEM_cmd"
        found = shutil.which(exe)
        if found is None:
            raise BackendError(f"clTEM executable {exe!r} not found; install clTEM and pass "
                               "--cltem PATH (or set WEMD_CLTEM)")
        self.executable, self.device = found, device
        self.kernel_terms, self.timeout = kernel_terms, timeout
        self._version: Optional[str] = None

    def software(self) -> dict[str, str]:
        return {**software_versions(), "clTEM": self.version()}

    def version(self) -> str:
        if self._version is None:
            out = subprocess.run([self.executable, "-v"], capture_output=True, text=True,
                                 timeout=60)
            self._version = out.stdout.strip() or "clTEM (version unknown)"
        return self._version

    def command(self, cif: Path, outdir: Path, config: Path, hyper: dict[str, Any]) -> list[str]:
        w, d = hyper["width_nm"] * 10.0, hyper["depth_nm"] * 10.0
        zone, tilt = hyper["zone_axis"], hyper["tilt_deg"]
        return [self.executable, str(cif), "-o", str(outdir), "-c", str(config), "-d", self.device,
                "-s", f"{w!r},{w!r},{d!r}", "-z", ",".join(str(int(v)) for v in zone),
                "-t", ",".join(repr(float(t)) for t in tilt)]

    def run(self, job: Job) -> tuple[np.ndarray, dict[str, Any]]:
        import tifffile

        if job.protocol.terms != self.kernel_terms:
            raise BackendError(f"this clTEM build sums {self.kernel_terms} Kirkland terms but the "
                               f"variant needs n = {job.protocol.terms}; pass kernel_terms (CLI "
                               "--cltem-terms) only for a build with that kernel")
        check_specimen_size(job.crystal, job.hyper["width_nm"] * 10.0, job.hyper["depth_nm"] * 10.0)
        with tempfile.TemporaryDirectory(prefix="wemd-cltem-") as tmp:
            tmp = Path(tmp)
            config = tmp / "config.json"
            config.write_text(json.dumps(cltem_config(job.hyper, job.protocol), indent=1))
            outdir = tmp / "out"
            outdir.mkdir()
            cmd = self.command(job.cif_path, outdir, config, job.hyper)
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout)
            if proc.returncode != 0:
                raise BackendError(f"clTEM_cmd exited with {proc.returncode}: "
                                   f"{(proc.stderr or proc.stdout).strip()[-500:]}")
            try:
                amplitude = tifffile.imread(outdir / "EW_amplitude.tif")
                phase = tifffile.imread(outdir / "EW_phase.tif")
            except (OSError, ValueError) as exc:
                raise BackendError(f"clTEM wrote no readable EW_amplitude.tif / EW_phase.tif "
                                   f"({exc})") from exc
            side = outdir / "EW_amplitude.json"
            used = json.loads(side.read_text()) if side.is_file() else {}
        if "filename" in used:  # clTEM echoes the structure path; keep outputs path-free
            used["filename"] = Path(str(used["filename"])).name
        if amplitude.shape != phase.shape or amplitude.ndim != 2:
            raise BackendError(f"clTEM outputs disagree in shape: {amplitude.shape} vs {phase.shape}")
        wave = (amplitude * np.exp(1j * phase)).astype(np.complex64)
        voltage = used.get("microscope", {}).get("voltage", {}).get("val", job.hyper["voltage_kv"])
        return wave, {"voltage_kv": float(voltage), "kirkland_terms": self.kernel_terms,
                      "interaction_constant_per_V_A": interaction_constant(float(voltage) * 1e3),
                      "pixel_size_A": pixel_size(job.hyper["width_nm"] * 10.0, job.protocol.grid),
                      "grid": list(amplitude.shape),
                      "command": self.command(Path(job.cif_path.name), Path("OUT"),
                                              Path("CONFIG.json"), job.hyper)[1:],
                      "cltem_settings": used}


#: Backend name -> class. Add a backend: implement the Backend protocol above and register it here.
BACKENDS: dict[str, Callable[..., Backend]] = {"numpy": NumpyBackend, "torch": TorchBackend,
                                               "abtem": AbtemBackend, "cltem": CltemBackend}


def make_backend(name: str, **options: Any) -> Backend:
    """A backend by name; options go to its constructor (e.g. ``workers``, ``executable``)."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}"
                           f"{did_you_mean(close_matches(name, BACKENDS))}")
    return BACKENDS[name](**options)
