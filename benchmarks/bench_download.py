"""Loopback download throughput of ``wemd download`` against curl on the same mirror.

Writes a synthetic stem_96x96 array of real item shape (``--rows`` x 96 x 96 x 1 float32, random
values, provenance "synthetic"), builds a mirror of it, serves it with ``wemd mirror serve`` in
its own process on 127.0.0.1 (as any mirror is another program) and times

- curl fetching every shard (the floor: plain HTTP to a file),
- wemd fetching the same shards (``fetch_verified``: resumable, bounded, sha256 as bytes arrive),
- the whole ``wemd download`` (stream, sha256 of shard and of every member as it is extracted,
  ``wemd verify``, placement).

Prints MB/s and the ratios wemd / curl (1.0 = as fast as curl).

    python benchmarks/bench_download.py [--rows 20000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from wemd.download import download, fetch_mirror_manifest
from wemd.fetch import fetch_verified
from wemd.manifest import Manifest, write_manifest
from wemd.mirror import build_mirror


def make_array(home: Path, rows: int) -> None:
    folder = home / "stem_96x96"
    folder.mkdir(parents=True, exist_ok=True)
    n_val = n_test = rows // 8
    counts = {"train": rows - n_val - n_test, "val": n_val, "test": n_test}
    arr = np.lib.format.open_memmap(folder / "stem_96x96.npy", mode="w+", dtype=np.float32,
                                    shape=(rows, 96, 96, 1))
    rng = np.random.default_rng(0)
    for a in range(0, rows, 2048):
        arr[a:a + 2048] = rng.random((min(2048, rows - a), 96, 96, 1), dtype=np.float32)
    arr.flush()
    del arr
    write_manifest(folder, Manifest("stem_96x96", "synthetic", counts,
                                    description="benchmark data (random values)"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 20.0) -> None:
    import requests

    end = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="wemd-bench-dl-"))
    make_array(base / "src", args.rows)
    build_mirror("stem_96x96", base / "site", root=base / "src", shard_bytes=256 << 20, progress=False)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "wemd", "mirror", "serve", str(base / "site"),
                               "--port", str(port)], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for(url)
    try:
        mirror, _ = fetch_mirror_manifest("stem_96x96", [url])
        size_mb = mirror.size / 1e6
        out = base / "curl"

        def curl() -> None:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            for s in mirror.shards:
                subprocess.run(["curl", "-sSf", "-o", str(out / s.path), f"{url}/stem_96x96/{s.path}"],
                               check=True)

        def fetch() -> None:
            shutil.rmtree(base / "cache", ignore_errors=True)
            for s in mirror.shards:
                fetch_verified([f"{url}/stem_96x96/{s.path}"], s.path, s.sha256, base / "cache",
                               size=s.size, progress=False)

        def whole() -> None:
            shutil.rmtree(base / "home", ignore_errors=True)
            download("stem_96x96", mirrors=[url], root=base / "home", progress=False)

        t_curl = best_of(args.repeats, curl)
        t_fetch = best_of(args.repeats, fetch)
        t_whole = best_of(args.repeats, whole)
    finally:
        server.terminate()
        server.wait(10)
    print(f"mirror: {len(mirror.shards)} shard(s), {size_mb:.0f} MB, served on loopback")
    print(f"curl                 {size_mb / t_curl:8.1f} MB/s")
    print(f"wemd fetch + sha256  {size_mb / t_fetch:8.1f} MB/s   ratio vs curl {t_curl / t_fetch:.2f}")
    print(f"wemd download (all)  {size_mb / t_whole:8.1f} MB/s   ratio vs curl {t_curl / t_whole:.2f}"
          "   (stream, sha256 of shard and members, extract, verify, place)")
    if not args.dir:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
