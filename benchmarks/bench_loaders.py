"""Throughput of wemd.load against the raw reader of the same layout.

Generates data of real shapes (2000 float32 TIFFs of 512x512 in split folders; one
[20000, 96, 96, 1] float32 .npy), then times sequential iteration and random access through
``wemd.load`` and through the raw floor (tifffile.imread per file; np.load(mmap_mode="r") rows
copied out). Prints per-item times and the overhead ratio (target: <= 1.10).

    python benchmarks/bench_loaders.py [--tiffs 2000] [--rows 20000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

import wemd
from wemd.manifest import Manifest, write_manifest


def make_tiffs(home: Path, n: int) -> list[Path]:
    folder = home / "stem_crops"
    counts = {"train": n - 2 * (n // 5), "val": n // 5, "test": n // 5}
    rng = np.random.default_rng(0)
    paths = []
    for split, k in counts.items():
        (folder / split).mkdir(parents=True, exist_ok=True)
        for i in range(k):
            path = folder / split / f"{i}.tif"
            if not path.exists():
                tifffile.imwrite(path, rng.random((512, 512), dtype=np.float32))
            paths.append(path)
    write_manifest(folder, Manifest("stem_crops", "synthetic", counts))
    return [p for p in paths if p.parent.name == "train"]


def make_array(home: Path, rows: int) -> Path:
    folder = home / "stem_96x96"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "stem_96x96.npy"
    if not path.exists():
        arr = np.lib.format.open_memmap(path, "w+", np.float32, (rows, 96, 96, 1))
        arr[:] = np.random.default_rng(0).random((rows, 96, 96, 1), dtype=np.float32)
        arr.flush()
        del arr
    counts = {"train": rows - 2 * (rows // 5), "val": rows // 5, "test": rows // 5}
    write_manifest(folder, Manifest("stem_96x96", "synthetic", counts))
    return path


def compare(ours_fn, raw_fn, repeats: int = 5) -> tuple[float, float]:
    """Best time of each, runs interleaved so background load hits both alike."""
    ours, raw = [], []
    for _ in range(repeats):
        for fn, times in ((ours_fn, ours), (raw_fn, raw)):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return min(ours), min(raw)


def report(label: str, n: int, ours_fn, raw_fn) -> None:
    ours, raw = compare(ours_fn, raw_fn)
    print(f"{label:<34} wemd {ours / n * 1e6:9.1f} us/item   raw {raw / n * 1e6:9.1f} us/item   "
          f"ratio {ours / raw:5.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiffs", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--dir", default=None, help="where to generate data (default: a temp dir)")
    args = ap.parse_args()
    home = Path(args.dir or tempfile.mkdtemp(prefix="wemd-bench-"))
    print(f"data in {home}")

    paths = make_tiffs(home, args.tiffs)
    ds = wemd.load("stem_crops", "train", root=home)
    n = len(paths)
    order = np.random.default_rng(1).permutation(n)
    for p in paths:  # warm the page cache for both readers alike
        p.read_bytes()
    report("TIFF 512x512 iterate", n, lambda: [x for x in ds],
           lambda: [tifffile.imread(p) for p in paths])
    report("TIFF 512x512 random access", n, lambda: [ds[int(i)] for i in order],
           lambda: [tifffile.imread(paths[i]) for i in order])

    path = make_array(home, args.rows)
    ds = wemd.load("stem_96x96", "train", root=home)
    n = len(ds)
    mm = np.load(path, mmap_mode="r")
    order = np.random.default_rng(2).permutation(n)
    report(".npy [N,96,96,1] iterate", n, lambda: [x for x in ds],
           lambda: [np.array(mm[i]) for i in range(n)])
    report(".npy [N,96,96,1] random access", n, lambda: [ds[int(i)] for i in order],
           lambda: [np.array(mm[int(i)]) for i in order])
    batches = [order[k:k + 64] for k in range(0, n, 64)]
    report(".npy random batches of 64", n, lambda: [ds[b] for b in batches],
           lambda: [mm[b] for b in batches])


if __name__ == "__main__":
    main()
