"""Convergence of exit waves with sampling: built-in engine and abTEM side by side (on demand).

    python benchmarks/bench_convergence.py [--width 20] [--engines numpy,abtem]

A light (Si, Z = 14), a medium (SrTiO3, Z <= 38) and a heavy (Au, Z = 79) crystal, 10 and 50 nm
thick, [001] with small tilts, 200 kV, 1 A slices, Kirkland n = 3. The base grid has the
protocol's pixel size for a wide crystal, (W + 16 A) / 512 with W = 85 A, about 0.2 A, over a
narrower box (``--width``, default 20 A; the box width changes the cost, not the sampling),
and is refined 2x and 4x over the same box. Each wave is compared as WEMD stores it: the
protocol's central view (:func:`~wemd.simulation.postprocess.standard_view`), divided by its
mean amplitude; the error is the relative L2 distance to the same engine at 2x and at 4x, over
the whole view ("view": what the stored wave misses, including the frequencies between the base
grid's 2/3 band limit and its Nyquist frequency, which it cannot hold) and within the base
grid's band limit ("band": how far what the grid holds is from converged). The exit intensity
before normalisation (1 = the incident beam) is printed beside it, which is what
``wemd simulate-check`` ranks by.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from wemd.simulation.backends import AbtemBackend, NumpyBackend
from wemd.simulation.check import band_limited_distance
from wemd.simulation.cif import read_cif
from wemd.simulation.examples import write_example_cifs
from wemd.simulation.geometry import LATERAL_PADDING, build_specimen
from wemd.simulation.multislice import Grid, NormRecord
from wemd.simulation.postprocess import normalise, standard_view

PROTOCOL_PIXEL = (85.0 + 2 * LATERAL_PADDING) / 512  # Angstrom, a wide draw of the protocol
CRYSTALS = (("light", "Si"), ("medium", "SrTiO3"), ("heavy", "Au"))
THICKNESS_NM = (10.0, 50.0)
VOLTAGE_KV = 200.0
CROP_FRACTION = 320 / 512


def view(wave: np.ndarray, base: int) -> np.ndarray:
    """The stored view of ``wave`` (any multiple of the ``base`` grid), normalised."""
    return normalise(standard_view(wave, base, int(round(base * CROP_FRACTION))))


def relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=20.0, help="crystal width (Angstrom)")
    parser.add_argument("--engines", default="numpy,abtem")
    args = parser.parse_args()
    extent = args.width + 2 * LATERAL_PADDING
    base = int(16 * np.ceil(extent / PROTOCOL_PIXEL / 16))  # an exact, even 320/512 view
    engines = {"numpy": NumpyBackend(workers=-1), "abtem": AbtemBackend}
    chosen = {name: (engines[name]() if name == "abtem" else engines[name])
              for name in args.engines.split(",")}
    print(f"# box {extent:.1f} A, base grid {base} ({extent / base:.3f} A/px, the protocol's "
          f"{PROTOCOL_PIXEL:.3f}); 2x {2 * base}, 4x {4 * base}; {VOLTAGE_KV:.0f} kV, [001]")
    header = (f"{'crystal':<16} {'t/nm':>5} {'engine':<6} {'view 1-2x':>9} {'view 1-4x':>9} "
              f"{'view 2-4x':>9} {'band 1-2x':>9} {'band 1-4x':>9} {'band 2-4x':>9} "
              f"{'I 1x':>6} {'I 2x':>6} {'I 4x':>6} {'s (4x)':>7}")
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for label, name in CRYSTALS:
            (path,) = write_example_cifs(tmp, [name])
            crystal = read_cif(path)
            for thickness in THICKNESS_NM:
                atoms = build_specimen(crystal, (0, 0, 1), (0.02, -0.03, 0.01), args.width,
                                       thickness * 10.0, np.random.default_rng(0))
                for engine_name, engine in chosen.items():
                    waves, intensity, seconds = [], [], 0.0
                    for factor in (1, 2, 4):
                        n = base * factor
                        record = NormRecord()
                        start = time.perf_counter()
                        wave = engine.exit_wave_from_atoms(atoms, Grid((n, n), atoms.box[:2]),
                                                           VOLTAGE_KV, 3, 1.0, record)
                        seconds = time.perf_counter() - start
                        intensity.append(float(np.mean(np.abs(wave.astype(np.complex128)) ** 2)))
                        waves.append(view(wave, base))
                    pairs = ((0, 1), (0, 2), (1, 2))
                    errors = [relative_l2(waves[i], waves[j]) for i, j in pairs]
                    errors += [band_limited_distance(waves[i], waves[j]) for i, j in pairs]
                    print(f"{label + ' ' + name:<16} {thickness:>5.0f} {engine_name:<6} "
                          + " ".join(f"{e:>9.3f}" for e in errors)
                          + "".join(f" {i:>6.3f}" for i in intensity) + f" {seconds:>7.1f}",
                          flush=True)


if __name__ == "__main__":
    main()
