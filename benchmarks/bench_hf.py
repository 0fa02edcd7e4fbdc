"""Throughput of ``wemd.load(..., source="hf")`` against the native loader on the same data.

Writes synthetic data of real item shapes (random values, provenance "synthetic"): a
``--rows`` x 96 x 96 x 1 float32 stem_96x96 array and ``--tiffs`` 512x512 float32 stem_crops
TIFFs; exports both with ``export_hf``; then times, per dataset, a sequential pass item by item
(``ds[i]``) and in batches of 256 (``ds[a:b]``) through the native and the HF loader, and checks
that both return the same bytes. Prints items/s and the ratio HF / native (1.0 = as fast).

    python benchmarks/bench_hf.py [--rows 20000] [--tiffs 500] [--dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

import wemd
from wemd.export.hf import export_hf
from wemd.manifest import Manifest, write_manifest

BATCH = 256


def make_data(home: Path, rows: int, tiffs: int) -> None:
    rng = np.random.default_rng(0)
    folder = home / "stem_96x96"
    folder.mkdir(parents=True, exist_ok=True)
    arr = np.lib.format.open_memmap(folder / "stem_96x96.npy", mode="w+", dtype=np.float32,
                                    shape=(rows, 96, 96, 1))
    for a in range(0, rows, 2048):
        arr[a:a + 2048] = rng.random((min(2048, rows - a), 96, 96, 1), dtype=np.float32)
    arr.flush()
    del arr
    write_manifest(folder, Manifest("stem_96x96", "synthetic", _counts(rows)))
    folder = home / "stem_crops"
    counts = _counts(tiffs)
    for split, n in counts.items():
        (folder / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            tifffile.imwrite(folder / split / f"{i}.tif", rng.random((512, 512), dtype=np.float32))
    write_manifest(folder, Manifest("stem_crops", "synthetic", counts))


def _counts(n: int) -> dict[str, int]:
    return {"train": n - 2 * (n // 8), "val": n // 8, "test": n // 8}


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def one_by_one(ds) -> None:
    for i in range(len(ds)):
        ds[i]


def batched(ds) -> None:
    for a in range(0, len(ds), BATCH):
        ds[a:a + BATCH]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--tiffs", type=int, default=500)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="wemd-bench-hf-"))
    make_data(base / "home", args.rows, args.tiffs)
    for name in ("stem_96x96", "stem_crops"):
        t_export = timed(lambda: export_hf(name, base / "export", root=base / "home", progress=False))
        native = wemd.load(name, "train", root=base / "home")
        hf = wemd.load(name, "train", source="hf", repo=base / "export", cache_dir=base / "cache")
        assert all(native[i].tobytes() == hf[i].tobytes() for i in (0, len(native) // 2, len(native) - 1))
        n = len(native)
        print(f"{name}: {n} train items; export {n / t_export:.0f} items/s")
        for label, fn in (("ds[i]", one_by_one), (f"ds[a:a+{BATCH}]", batched)):
            fn(native), fn(hf)  # warm the page cache for both
            t_native, t_hf = timed(lambda: fn(native)), timed(lambda: fn(hf))
            print(f"  {label:<12} native {n / t_native:9.0f} items/s   hf {n / t_hf:9.0f} items/s"
                  f"   ratio hf/native {t_native / t_hf:.2f}")
    if not args.dir:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
