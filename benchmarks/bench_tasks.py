"""Fidelity check and timing of the classical TEM denoisers, side by side with the paper's Table 1.

    python benchmarks/bench_tasks.py [--n 60] [--images 16] [--bm3d] [--methods ...] [--source synthetic]

Without ``--source`` it writes TEM-like 2048x2048 micrographs (lattice fringes, amorphous
texture, smooth thickness variation, Poisson counting noise at >= 2500 counts/px, like the
curated data) into a temporary data home marked provenance 'synthetic', then runs every
classical denoiser on the standard low- and high-dose protocols (only n is smaller). Nothing is
tuned. Prints MSE x 1e3 and SSIM (mean +- std) next to Table 1, and seconds per instance
(generation + denoising + scoring) with its ratio to generating the instance alone.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def tem_like(size: int, rng: np.random.Generator) -> np.ndarray:
    """A high-dose TEM-like micrograph on [0, 1] (not a physical simulation)."""
    from scipy.ndimage import gaussian_filter, zoom

    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.zeros((size, size))
    for _ in range(int(rng.integers(1, 4))):  # crystalline grains with fringes
        period, angle = rng.uniform(8, 40), rng.uniform(0, np.pi)
        k = 2 * np.pi / period
        u = k * (x * np.cos(angle) + y * np.sin(angle))
        v = k * (-x * np.sin(angle) + y * np.cos(angle))
        grain = zoom(gaussian_filter(rng.random((size // 64, size // 64)), 1), 64, order=1)
        grain = grain > np.median(grain)
        img += grain * rng.uniform(0.2, 0.6) * (np.cos(u) + np.cos(v) * rng.uniform(0, 1))
    img += 0.3 * gaussian_filter(rng.normal(size=(size, size)), rng.uniform(1, 3)) * 4
    coarse = gaussian_filter(rng.normal(size=(size // 64, size // 64)), 2.0)  # thickness variation
    img += zoom(coarse / (np.ptp(coarse) + 1e-12), 64, order=3)
    img = (img - img.min()) / np.ptp(img)
    counts = rng.poisson((0.2 + img) * 2500 / 0.2)  # >= 2500 counts per pixel
    return ((counts - counts.min()) / np.ptp(counts)).astype(np.float32)


def make_home(images: int, size: int = 2048) -> Path:
    import tifffile

    from wemd.manifest import Manifest, write_manifest

    home = Path(tempfile.mkdtemp(prefix="wemd_bench_"))
    folder = home / "tem_full"
    rng = np.random.default_rng(2024)
    for k in range(images):
        (folder / "test").mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(folder / "test" / f"{k}.tif", tem_like(size, rng))
    write_manifest(folder, Manifest(dataset="tem_full", provenance="synthetic",
                                    splits={"test": images},
                                    description="TEM-like images from benchmarks/bench_tasks.py"))
    return home


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=60, help="instances per task (paper: 20000)")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--bm3d", action="store_true", help="also run BM3D (slow)")
    ap.add_argument("--methods", nargs="*", default=None, help="only these denoisers")
    ap.add_argument("--source", default=None, help="use wemd.load(source=...) data instead")
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    from wemd.baselines.classical import methods
    from wemd.leaderboard import references
    from wemd.baselines.run import evaluate_method
    from wemd.leaderboard.tasks import get_task

    root = None
    source = args.source or "local"
    if args.source is None:
        root = make_home(args.images)
        os.environ["WEMD_HOME"] = str(root)
    for high in (False, True):
        task = get_task("tem_denoise_high_dose" if high else "tem_denoise_low_dose")
        ds = task.open(source=source, root=root)
        t0 = time.perf_counter()
        for inst in task.instances(ds, args.n):
            pass
        gen = (time.perf_counter() - t0) / args.n
        paper = {r.method.split(" ")[0].split(",")[0]: r.metrics for r in references.tem(high)}
        print(f"\n{task.name}: n = {args.n} on {ds.provenance} data; instance generation "
              f"{gen * 1e3:.0f} ms")
        print(f"{'method':<14}{'MSE x1e3 here':>20}{'Table 1':>18}{'SSIM here':>18}{'Table 1':>16}"
              f"{'s/inst':>9}{'ratio':>7}")
        for name in methods("tem_denoise"):
            if (name == "bm3d" and not args.bm3d) or (args.methods and name not in args.methods):
                continue
            t0 = time.perf_counter()
            res = evaluate_method(task, name, ds=ds, n=args.n, progress=False, source=source)
            per = (time.perf_counter() - t0) / args.n
            key = {"tv_chambolle": "chambolle", "tv_bregman": "bregman", "wavelet": "wavelet",
                   "wiener": "wiener"}.get(name, name)
            ref = paper.get(key)
            m, s = res.metrics["mse_x1000"], res.metrics["ssim"]
            pm = f"{ref['mse_x1000'][0]:.3f}+-{ref['mse_x1000'][1]:.3f}" if ref else "-"
            ps = f"{ref['ssim'][0]:.3f}+-{ref['ssim'][1]:.3f}" if ref else "-"
            print(f"{name:<14}{m['mean']:>11.3f}+-{m['std']:<7.3f}{pm:>18}"
                  f"{s['mean']:>10.3f}+-{s['std']:<6.3f}{ps:>16}{per:>9.2f}{per / gen:>7.1f}")


if __name__ == "__main__":
    main()
