"""``wemd stats`` on a 2-worker dask.distributed LocalCluster against a single-process loop,
and how its time grows with the number of items (on demand).

    python benchmarks/bench_stats.py [--sizes 2000,20000] [--workers 2] [--dir DIR]

A stem_96x96 array of simulated micrographs (``bench_formats.micrographs``) per size; each size
is timed with ``scheduler=None`` (a plain loop in this process) and with a LocalCluster of
``--workers`` processes (its start-up and shut-down included, as a user pays them). Prints
seconds, items per second, the cluster/loop ratio, and for each size the time per item relative
to the smallest size (1.0 = linear growth).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_formats import write_stem_96x96
from wemd.item_stats import stats


def make(home: Path, rows: int) -> Path:
    write_stem_96x96(home / f"n{rows}" / "stem_96x96", rows, {"train": rows, "val": 0, "test": 0})
    return home / f"n{rows}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000,20000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    home = Path(args.dir or tempfile.mkdtemp(prefix="wemd-bench-stats-"))
    print(f"data in {home}")
    per_item = {}
    sizes = [int(s) for s in args.sizes.split(",")]
    roots = {n: make(home, n) for n in sizes}
    stats("stem_96x96", "train", root=roots[sizes[0]], scheduler=None)  # warm: imports, page cache
    from distributed import LocalCluster

    t = time.perf_counter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None):
        pass
    print(f"LocalCluster of {args.workers} workers: start and stop {time.perf_counter() - t:.2f} s "
          "(included in every cluster time below)")
    for n in sizes:
        root = roots[n]
        times = {}
        for label, scheduler in (("loop", None), ("cluster", "local")):
            t = time.perf_counter()
            df = stats("stem_96x96", "train", root=root, scheduler=scheduler, workers=args.workers)
            times[label] = time.perf_counter() - t
            assert len(df) == n
        per_item[n] = times
        print(f"{n:>7} items: loop {times['loop']:7.2f} s ({n / times['loop']:7.0f} items/s)   "
              f"{args.workers}-worker LocalCluster {times['cluster']:7.2f} s "
              f"({n / times['cluster']:7.0f} items/s)   cluster/loop {times['cluster'] / times['loop']:5.2f}")
    base = min(per_item)
    for n, times in sorted(per_item.items()):
        growth = {k: (v / n) / (per_item[base][k] / base) for k, v in times.items()}
        print(f"{n:>7} items: time per item relative to {base} items: loop {growth['loop']:.2f}, "
              f"cluster {growth['cluster']:.2f} (1.00 = linear)")


if __name__ == "__main__":
    main()
