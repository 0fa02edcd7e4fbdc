"""CLI for stores and item tables: ``wemd convert`` (zarr v3 / HDF5) and ``wemd stats``."""

from __future__ import annotations

import argparse

from wemd.cli._args import add_data_options

#: The store formats (``wemd.stores.convert.FORMATS``, named here so the CLI imports nothing).
STORE_KINDS = ("zarr", "hdf5")
#: Where these commands read a dataset from (a store needs --url).
STORE_SOURCES = ("local", "synthetic") + STORE_KINDS


def add_store_input(p: argparse.ArgumentParser,
                    sources: tuple[str, ...] = STORE_SOURCES) -> None:
    """``--source`` (with the stores) and ``--root`` as every data command, and ``--url``."""
    add_data_options(p, sources)
    p.add_argument("--url", default=None, help="with --source zarr: the store folder or URL; "
                   "with --source hdf5: the .h5 file (or the folder holding NAME.h5)")


def store_kwargs(args: argparse.Namespace) -> dict:
    """``url=`` for a store source; ``--url`` with another source is refused."""
    if args.source in STORE_KINDS:
        return {"url": args.url}
    if args.url is not None:
        from wemd.errors import WEMDError

        raise WEMDError("--url reads a store: add --source zarr or --source hdf5.")
    return {}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``convert`` and ``stats``."""
    from wemd.stores.convert import FORMATS

    p = sub.add_parser("convert", help="copy a dataset into a chunked, compressed zarr v3 or "
                       "HDF5 store (same items, same fingerprint)")
    p.add_argument("name")
    p.add_argument("out", help="store folder: zarr writes OUT/NAME, HDF5 writes OUT/NAME.h5")
    p.add_argument("--to", choices=FORMATS, default="zarr", help="store format")
    p.add_argument("--split", default=None, help="one split only (default: every split on disk)")
    p.add_argument("--codec", default=None, help="zarr: zstd, blosc-zstd, gzip, none (default "
                   "zstd); HDF5: gzip, lzf, none (default gzip)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store of NAME")
    add_store_input(p)
    p.set_defaults(func=_convert)

    p = sub.add_parser("stats", help="per-item mean/std/min/max and quality flags (blank, "
                       "noise-only, incomplete scan) over a split, mapped with dask.distributed")
    p.add_argument("name")
    p.add_argument("--split", default="train")
    p.add_argument("--scheduler", default="local", help="'local' (a LocalCluster), 'none' (this "
                   "process) or a dask.distributed address such as tcp://HOST:8786")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    p.add_argument("--out", default=None, help="Parquet file for the per-item table")
    add_store_input(p)
    p.set_defaults(func=_stats)


def _convert(args: argparse.Namespace) -> int:
    from wemd.stores.convert import convert

    path = convert(args.name, args.out, args.to, split=args.split, codec=args.codec,
                   root=args.root, source=args.source, overwrite=args.overwrite,
                   **store_kwargs(args))
    print(f"wrote {path}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from wemd.item_stats import FLAGS, stats, write_parquet

    scheduler = None if args.scheduler == "none" else args.scheduler
    df = stats(args.name, args.split, root=args.root, source=args.source, scheduler=scheduler,
               workers=args.workers, progress=True, **store_kwargs(args))
    if args.out:
        write_parquet(df, args.out)
        print(f"wrote {args.out} ({len(df)} items)")
    flagged = ", ".join(f"{f} {int(df[f].sum())}" for f in FLAGS) if len(df) else "none"
    print(f"{args.name}/{args.split}: {len(df)} items; flagged: {flagged}")
    for label, c in df.attrs.get("normalisation", {}).items():
        if c.get("items"):
            print(f"  normalisation ({label}, {c['items']} items): mean {c['mean']:.6g}  "
                  f"std {c['std']:.6g}  min {c['min']:.6g}  max {c['max']:.6g}")
    return 0
