"""Exit-wave simulation speed: the built-in engine vs abTEM vs the FFT floor (run on demand).

    python benchmarks/bench_simulation.py [--quick] [--device cpu|cuda]

For Si and SrTiO3 (example CIFs), 10 and 50 nm deep, 5 nm wide, on the protocol's 512x512 grid
with 1 A slices: seconds per exit wave and milliseconds per slice for the built-in NumPy engine
and for abTEM on identical atoms, grid and Kirkland n = 3 parametrisation, measured alternately
in one run and reported as ratios; the floor is (species + 3) complex 512x512 FFTs (scipy.fft,
all cores) plus one complex exponential per slice. At 10 nm both are also compared with a
reference at twice the sampling made by each engine, within the 512 grid's band limit
("equal accuracy"). The torch engine (same algorithm, ``--device``) is timed on the same atoms
and compared with the NumPy engine; the 50 nm rows (about the protocol's mean depth of 52.5 nm)
give an estimate of the time to regenerate WEMD's 98340 waves with one process of each engine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import scipy.fft as sfft

from wemd.simulation.backends import AbtemBackend, NumpyBackend, TorchBackend
from wemd.simulation.cif import read_cif
from wemd.simulation.examples import write_example_cifs
from wemd.simulation.geometry import build_specimen
from wemd.simulation.multislice import BAND_LIMIT, Grid

N = 512
WIDTH = 50.0  # Angstrom
VOLTAGE_KV = 200.0
WEMD_WAVES = 98340


def floor_ms(species: int, slices: int, repeats: int) -> float:
    """Milliseconds per slice for (species + 3) complex FFTs and one complex exponential.

    Run over as many slices as the simulation, alternately with it, so both see the same load.
    """
    wave = (np.random.default_rng(0).random((N, N)) + 0j).astype(np.complex64)
    phase = np.random.default_rng(1).random((N, N)).astype(np.float32)
    t = np.empty((N, N), dtype=np.complex64)

    def run() -> None:
        for _ in range(slices):
            for _ in range(species + 3):
                sfft.fft2(wave, workers=-1)
            np.cos(phase, out=t.real)
            np.sin(phase, out=t.imag)

    return timed(run, repeats)[0] / slices * 1e3


def timed(fn, repeats: int):
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def in_band(wave: np.ndarray, extent: float) -> np.ndarray:
    """Fourier coefficients of ``wave`` inside the 512 grid's 2/3 band limit."""
    spectrum = np.fft.fft2(wave) / wave.size
    k = np.fft.fftfreq(wave.shape[0], extent / wave.shape[0])
    return spectrum[np.hypot(k[:, None], k[None, :]) < BAND_LIMIT / (2 * extent / N)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 nm only, no accuracy reference")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    args = parser.parse_args()
    ours, theirs = NumpyBackend(workers=-1), AbtemBackend()
    torch_engine = TorchBackend(device=args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = dict(zip(["Si", "SrTiO3"], write_example_cifs(tmp, ["Si", "SrTiO3"])))
        # warm-up: abTEM's numba kernels and both FFT plans
        atoms = build_specimen(read_cif(paths["Si"]), (1, 1, 0), (0, 0, 0), 20.0, 10.0,
                               np.random.default_rng(0))
        grid = Grid((N, N), atoms.box[:2])
        ours.exit_wave_from_atoms(atoms, grid, VOLTAGE_KV, 3)
        theirs.exit_wave_from_atoms(atoms, grid, VOLTAGE_KV, 3)
        torch_engine.exit_wave_from_atoms(atoms, grid, VOLTAGE_KV, 3)
        for name in ("Si", "SrTiO3"):
            crystal = read_cif(paths[name])
            for depth_nm in ((10,) if args.quick else (10, 50)):
                atoms = build_specimen(crystal, (1, 1, 0), (0.05, -0.03, 0.02), WIDTH,
                                       depth_nm * 10.0, np.random.default_rng(0))
                grid = Grid((N, N), atoms.box[:2])
                slices = int(atoms.box[2])
                occupied = len(np.unique(np.floor(atoms.positions[:, 2]).astype(int)))
                repeats = 2 if depth_nm == 10 else 1
                t_ours, w_ours = timed(lambda: ours.exit_wave_from_atoms(atoms, grid, VOLTAGE_KV, 3),
                                       repeats)
                t_abtem, w_abtem = timed(
                    lambda: theirs.exit_wave_from_atoms(atoms, grid, VOLTAGE_KV, 3), repeats)
                t_torch, w_torch = timed(
                    lambda: torch_engine.exit_wave_from_atoms(atoms, grid, VOLTAGE_KV, 3), repeats)
                floor = floor_ms(len(atoms.species), slices, repeats)
                row = {"material": name, "depth_nm": depth_nm, "slices": slices,
                       "atoms": len(atoms.numbers), "species": len(atoms.species),
                       "ours_s": round(t_ours, 3), "abtem_s": round(t_abtem, 3),
                       "ours_ms_per_slice": round(t_ours / slices * 1e3, 2),
                       "abtem_ms_per_slice": round(t_abtem / slices * 1e3, 2),
                       "abtem_over_ours": round(t_abtem / t_ours, 2),
                       "torch_s": round(t_torch, 3), "torch_over_ours": round(t_torch / t_ours, 2),
                       "torch_vs_ours_rel_l2": float(np.linalg.norm(w_torch - w_ours)
                                                     / np.linalg.norm(w_ours)),
                       "floor_ms_per_slice": round(floor, 2),
                       "ours_over_floor": round(t_ours / slices * 1e3 / floor, 2),
                       # the engine propagates runs of empty slices in one step; per slice
                       # holding atoms it does the floor's work plus the band limit of t
                       "occupied_slices": occupied,
                       "ours_over_floor_per_occupied_slice": round(
                           t_ours / occupied * 1e3 / floor, 2),
                       "ours_vs_abtem_rel_l2": float(np.linalg.norm(w_ours - w_abtem)
                                                     / np.linalg.norm(w_abtem))}
                if depth_nm == 10 and not args.quick:
                    # each engine against both engines' 2x-sampled waves: a reference made by
                    # one engine alone would favour that engine
                    fine = Grid((2 * N, 2 * N), atoms.box[:2])
                    refs = {key: in_band(engine.exit_wave_from_atoms(atoms, fine, VOLTAGE_KV, 3),
                                         atoms.box[0])
                            for key, engine in (("ours", ours), ("abtem", theirs))}
                    for key, wave in (("ours", w_ours), ("abtem", w_abtem)):
                        for ref_key, ref in refs.items():
                            err = in_band(wave, atoms.box[0]) - ref
                            row[f"{key}_error_vs_2x_{ref_key}"] = float(np.linalg.norm(err)
                                                                       / np.linalg.norm(ref))
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\n| material | depth | slices (occupied) | ours s | abTEM s | abTEM/ours | ours ms/slice "
          "| floor ms/slice | ours/floor | same, per occupied slice | err ours (vs 2x ours / "
          "2x abTEM) | err abTEM (same) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['material']} | {r['depth_nm']} nm | {r['slices']} ({r['occupied_slices']}) | "
              f"{r['ours_s']} | {r['abtem_s']} | {r['abtem_over_ours']} | "
              f"{r['ours_ms_per_slice']} | {r['floor_ms_per_slice']} | {r['ours_over_floor']} | "
              f"{r['ours_over_floor_per_occupied_slice']} | "
              + " | ".join(" / ".join(f"{r.get(f'{key}_error_vs_2x_{ref}', float('nan')):.4f}"
                                      for ref in ("ours", "abtem")) for key in ("ours", "abtem"))
              + " |")
    print(f"\n| material | depth | torch ({args.device}) s | torch/ours | torch vs ours rel. L2 |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['material']} | {r['depth_nm']} nm | {r['torch_s']} | {r['torch_over_ours']} | "
              f"{r['torch_vs_ours_rel_l2']:.2e} |")
    deep = [r for r in rows if r["depth_nm"] == 50]
    for key, label in (("ours_s", "numpy engine"), ("abtem_s", "abTEM"),
                       ("torch_s", f"torch engine ({args.device})")):
        if deep:
            per_wave = float(np.mean([r[key] for r in deep]))
            print(f"{label}: {per_wave:.2f} s per 50 nm wave, {1 / per_wave:.3f} waves/s; "
                  f"{WEMD_WAVES} waves: {WEMD_WAVES * per_wave / 86400:.1f} days in one process, "
                  f"/ N on a Dask cluster of N such workers")


if __name__ == "__main__":
    main()
