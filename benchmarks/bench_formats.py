"""zarr v3 and HDF5 stores against the native readers: throughput and compression (on demand).

    python benchmarks/bench_formats.py [--rows 20000] [--tiffs 400] [--scale tiny] [--dir DIR]

1. Throughput. A [rows, 96, 96, 1] float32 stem_96x96 array of simulated micrographs (a lattice
   imaged with Poisson noise, so it compresses like data, not like random bytes) and ``--tiffs``
   512x512 float32 TIFF crops are converted to zarr (zstd, sharded) and HDF5 (gzip; lzf). Each
   copy is read through ``wemd.load(source=...)`` (every item checked against its sha256) and
   compared with the native reader (``source="local"``: .npy memory map, tifffile) and with the
   raw floor (``np.load(mmap_mode="r")`` rows copied out; ``zarr``/``h5py`` read directly, no
   checks): iterate item by item, random items, contiguous batches of 64 and random batches of 64,
   with zarr zstd and uncompressed (``none``) copies; best of 3 (store readers' chunk caches
   warm) and one cold first pass each; and sha256 against memcpy (what checking costs).
   Goal for 96x96 batches: ratio to the native reader <= 1.2.
2. Compression. Every array dataset of a synthetic build (``--scale``) converted with each codec;
   store bytes against raw item bytes, per family.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import wemd
from bench_download import best_of
from wemd.manifest import Manifest, write_manifest
from wemd.stores.convert import convert


def micrographs(n: int, side: int, seed: int) -> np.ndarray:
    """``n`` lattice images with Poisson noise at a few counts per pixel (float32)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    out = np.empty((n, side, side), np.float32)
    for k in range(n):
        period = rng.uniform(5, 12)
        angle = rng.uniform(0, np.pi)
        u = np.cos(angle) * xx + np.sin(angle) * yy
        v = -np.sin(angle) * xx + np.cos(angle) * yy
        expected = 4 * (1.2 + np.cos(2 * np.pi * u / period) * np.cos(2 * np.pi * v / period))
        out[k] = rng.poisson(expected)
    return out


def write_stem_96x96(folder: Path, rows: int, counts: dict[str, int]) -> None:
    """A stem_96x96 folder of ``rows`` micrographs (written 1000 at a time) split by ``counts``."""
    folder.mkdir(parents=True, exist_ok=True)
    arr = np.lib.format.open_memmap(folder / "stem_96x96.npy", "w+", np.float32, (rows, 96, 96, 1))
    for a in range(0, rows, 1000):
        arr[a:a + 1000, ..., 0] = micrographs(min(1000, rows - a), 96, a)
    arr.flush()
    del arr
    write_manifest(folder, Manifest("stem_96x96", "synthetic", counts))


def make_home(home: Path, rows: int, tiffs: int) -> None:
    import tifffile

    write_stem_96x96(home / "stem_96x96", rows, split_of(rows))
    folder = home / "stem_crops"
    counts = split_of(tiffs)
    images = iter(micrographs(tiffs, 512, 7))
    for split, k in counts.items():
        (folder / split).mkdir(parents=True, exist_ok=True)
        for i in range(k):
            tifffile.imwrite(folder / split / f"{i}.tif", next(images))
    write_manifest(folder, Manifest("stem_crops", "synthetic", counts))


def split_of(n: int) -> dict[str, int]:
    return {"train": n - 2 * (n // 5), "val": n // 5, "test": n // 5}


def best(fn, repeats: int = 3) -> float:
    return best_of(repeats, fn)


def row(label: str, n: int, times: dict[str, float]) -> None:
    native = times["native"]
    cells = "  ".join(f"{k} {v / n * 1e6:8.1f} us ({v / native:5.2f}x)" for k, v in times.items())
    print(f"{label:<28} {cells}")


def throughput(home: Path) -> None:
    import h5py
    import zarr

    out = home / "stores"
    for name in ("stem_96x96", "stem_crops"):
        convert(name, out, "zarr", root=home, split="train", progress=False, overwrite=True)
        convert(name, out, "hdf5", root=home, split="train", progress=False, overwrite=True)
        convert(name, out / "none", "zarr", root=home, split="train", codec="none",
                progress=False, overwrite=True)
    convert("stem_96x96", out / "lzf", "hdf5", root=home, split="train", codec="lzf",
            progress=False, overwrite=True)
    trust_floor()
    print("\n# throughput, train split; per item, (ratio to the native wemd reader); best of 3, "
          "so store readers run with their chunk cache warm (first passes: 'cold' lines)")
    for name in ("stem_96x96", "stem_crops"):
        opens = {
            "native": lambda: wemd.load(name, "train", root=home),
            "zarr": lambda: wemd.load(name, "train", source="zarr", url=out),
            "zarr-none": lambda: wemd.load(name, "train", source="zarr", url=out / "none"),
            "hdf5": lambda: wemd.load(name, "train", source="hdf5", url=out / f"{name}.h5"),
        }
        if name == "stem_96x96":
            opens["hdf5-lzf"] = lambda: wemd.load(name, "train", source="hdf5",
                                                  url=out / "lzf" / f"{name}.h5")
        copies = {k: fn() for k, fn in opens.items()}
        n = len(copies["native"])
        times = {}
        for k, fn in opens.items():  # one pass each on a fresh reader: every chunk decoded
            ds = fn()
            t0 = time.perf_counter()
            [ds[a:a + 64] for a in range(0, n, 64)]
            times[k] = time.perf_counter() - t0
        row(f"{name} batches of 64, cold", n, times)
        raw_zarr = zarr.open_array(out / name / "train" / "items", mode="r")
        raw_h5 = h5py.File(out / f"{name}.h5", "r")["train/items"]
        order = np.random.default_rng(1).permutation(n)
        picks = order[: min(n, 2000)]
        batches = [np.sort(order[k:k + 64]) for k in range(0, min(n, 4096), 64)]
        runs = {
            "iterate": (n, lambda ds: [x for x in ds]),
            "random items": (len(picks), lambda ds: [ds[int(i)] for i in picks]),
            "batches of 64": (n, lambda ds: [ds[k:k + 64] for k in range(0, n, 64)]),
            "random batches of 64": (len(batches) * 64, lambda ds: [ds[b] for b in batches]),
        }
        for label, (count, fn) in runs.items():
            times = {k: best(lambda ds=ds: fn(ds)) for k, ds in copies.items()}
            if label == "batches of 64":
                times["zarr direct"] = best(lambda: [raw_zarr[k:k + 64] for k in range(0, n, 64)])
                times["h5py direct"] = best(lambda: [raw_h5[k:k + 64] for k in range(0, n, 64)])
            row(f"{name} {label}", count, times)
        x = copies["zarr"].to_dask()
        t = best(lambda: x.compute(scheduler="threads"), repeats=2)
        t0 = best(lambda: copies["native"][:], repeats=2)
        print(f"{name} whole split: zarr to_dask().compute() {t:.3f} s, native ds[:] {t0:.3f} s "
              f"({t / t0:.2f}x)")


def trust_floor() -> None:
    """What checking every item costs here: sha256 throughput against a plain copy."""
    import hashlib

    buf = np.random.default_rng(0).random((64 << 20) // 8).tobytes()
    t_hash = best(lambda: hashlib.sha256(buf).digest())
    t_copy = best(lambda: bytearray(buf))
    print(f"\n# trust floor: sha256 {len(buf) / t_hash / 1e9:.2f} GB/s, memcpy "
          f"{len(buf) / t_copy / 1e9:.2f} GB/s (a 96x96 float32 item: sha256 "
          f"{36864 / len(buf) * t_hash * 1e6:.1f} us, copy {36864 / len(buf) * t_copy * 1e6:.1f} us)")


def compression(home: Path, scale: str) -> None:
    from wemd.synthetic import build

    built = build(out=home / "synthetic", scale=scale, seed=0, progress=False)
    print(f"\n# compression: store bytes / raw item bytes, synthetic build '{scale}' (and the "
          "simulated 96x96 micrographs above)")
    names = [n for n, spec in wemd.CATALOG.items() if spec.dtype != "str" and n in built]
    names.append("stem_96x96@bench")
    codecs = {"zarr": ("zstd", "blosc-zstd", "gzip"), "hdf5": ("gzip", "lzf")}
    print(f"{'dataset':<32} {'raw MB':>8} " + " ".join(f"{f}/{c:>10}" for f, cs in codecs.items() for c in cs))
    for name in names:
        real, root = (name.split("@")[0], home) if "@" in name else (name, home / "synthetic")
        ds = {s: wemd.load(real, s, root=root) for s in wemd.catalog.get(real).splits
              if (Path(root) / real).is_dir()}
        raw = sum(np.asarray(d[i]).nbytes for d in ds.values() for i in range(len(d)))
        cells = []
        for fmt, cs in codecs.items():
            for c in cs:
                out = home / "ratio" / f"{fmt}-{c}"
                path = convert(real, out, fmt, root=root, codec=c, progress=False, overwrite=True)
                size = sum(p.stat().st_size for p in (path.rglob("*") if path.is_dir() else [path])
                           if p.is_file())
                cells.append(f"{raw / size:>15.2f}")
        print(f"{name:<32} {raw / 1e6:8.1f} " + " ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--tiffs", type=int, default=400)
    ap.add_argument("--scale", default="tiny", help="synthetic build for compression ratios")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--no-compression", action="store_true", help="throughput only")
    args = ap.parse_args()
    home = Path(args.dir or tempfile.mkdtemp(prefix="wemd-bench-formats-"))
    print(f"data in {home}")
    make_home(home, args.rows, args.tiffs)
    throughput(home)
    if not args.no_compression:
        compression(home, args.scale)


if __name__ == "__main__":
    main()
