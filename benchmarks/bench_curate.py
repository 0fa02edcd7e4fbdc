"""Throughput of ``wemd curate`` against the raw reader loop, and how it grows with file count.

Writes a mix of microscope files (DM3, DM4, Velox EMD, MRC, TIFF; 512..1536 px sides, a stack
now and then) into contributor folders, then times for each file count:

* the raw floor: ``rsciio``'s reader on every file, pixels loaded, nothing else;
* ``wemd curate --kind stem`` on ``--workers`` processes (read, the whole STEM chain, duplicate
  keys, cache, partition and writing four datasets with manifests, tables and cards);
* the same command run again (every file taken from the cache: the cost of a resume).

Prints files/s and the ratio curate / raw (a ratio over 1 means curation on N workers outruns
one process that only reads).

    python benchmarks/bench_curate.py [--files 24 48 96] [--workers 2] [--dir DIR]
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.curate_files import write_dm, write_mrc, write_tiff, write_velox  # noqa: E402
from wemd.curate import Rules, curate  # noqa: E402
from wemd.curate.readers import PLUGINS  # noqa: E402

WRITERS = [
    lambda p, a: write_dm(p.with_suffix(".dm3"), a.astype(np.uint16)),
    lambda p, a: write_dm(p.with_suffix(".dm4"), a.astype(np.float32), version=4),
    lambda p, a: write_velox(p.with_suffix(".emd"), a.astype(np.float32)),
    lambda p, a: write_mrc(p.with_suffix(".mrc"), a),
    lambda p, a: write_tiff(p.with_suffix(".tif"), a.astype(np.float32)),
]


def make_files(src: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        side = int(rng.choice([512, 1024, 1536]))
        img = rng.poisson(200, (side, side + 64 * (i % 3))).astype(np.float32)
        if i % 7 == 6:
            img = np.stack([img, img[::-1]])  # a two-frame stack
        folder = src / f"user{i % 8}"
        folder.mkdir(parents=True, exist_ok=True)
        writer = WRITERS[i % len(WRITERS)]
        if img.ndim == 3 and i % len(WRITERS) == 2:
            write_velox(folder / f"f{i}.emd", img[0], frames=2)
        else:
            writer(folder / f"f{i}", img if img.ndim == 2 or i % len(WRITERS) in (0, 1) else img[0])


def raw_loop(src: Path) -> float:
    """Seconds for rsciio to read every file's pixels, one after another (readers imported
    before the clock starts; the files are in the page cache for both contenders)."""
    for plugin in set(PLUGINS.values()):
        importlib.import_module(plugin)
    t = time.perf_counter()
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        reader = importlib.import_module(PLUGINS[path.suffix.lower()]).file_reader
        for signal in reader(str(path)):
            np.asarray(signal["data"]).sum()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, nargs="+", default=[24, 48, 96])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="wemd-bench-curate-"))
    print(f"{'files':>6} {'MB':>7} {'raw files/s':>12} {'curate files/s':>15} {'ratio':>6} "
          f"{'resume files/s':>15}")
    try:
        for n in args.files:
            src, out = base / f"src{n}", base / f"out{n}"
            shutil.rmtree(out, ignore_errors=True)
            if not src.exists():
                make_files(src, n)
            mb = sum(p.stat().st_size for p in src.rglob("*") if p.is_file()) / 1e6
            raw = raw_loop(src)
            rules = Rules(kind="stem")
            t = time.perf_counter()
            curate(src, out, "bench_stem", rules, workers=args.workers, progress=False)
            full = time.perf_counter() - t
            t = time.perf_counter()
            curate(src, out, "bench_stem", rules, workers=args.workers, progress=False)
            resume = time.perf_counter() - t
            print(f"{n:>6} {mb:>7.0f} {n / raw:>12.1f} {n / full:>15.1f} {raw / full:>6.2f} "
                  f"{n / resume:>15.1f}")
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
