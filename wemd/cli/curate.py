"""``wemd curate``: turn a folder of a lab's microscope files into WEMD-style datasets."""

from __future__ import annotations

import argparse

from wemd.curate.pool import FILE_TIMEOUT_S
from wemd.curation import CROP_SIZE, MIN_COUNTS_PER_PIXEL, SMALL_SIZE, TEM_SIZE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "curate", help="make WEMD-style datasets from a folder of microscope files",
        description="Read DM3/DM4, Velox/Berkeley EMD, FEI SER, MRC and TIFF files under SRC; run "
                    "the WEMD chain of --kind; partition whole groups into train/val/test; write "
                    "NAME (and its crops/96x96 variants) into the data home --out. Rerun the "
                    "same command to resume an interrupted run.")
    p.add_argument("src", help="folder holding the microscope files (searched recursively)")
    p.add_argument("--kind", required=True, choices=("stem", "tem"),
                   help="stem: original sizes, 512 crops, 96x96 variants; tem: 2048 squares, "
                        "dose filter, min-max scaling, 96x96")
    p.add_argument("--name", required=True, help="dataset name, e.g. lab_stem (variants add "
                                                 "_crops, _96x96, _crops_96x96)")
    p.add_argument("--out", required=True, help="data home to write the datasets into (load them "
                                                "with --root OUT)")
    p.add_argument("--group-by", default="folder", choices=("folder", "operator", "session"),
                   help="what no split may share: the file's folder, or the operator / session its "
                        "metadata names (files without one fall back to their folder)")
    p.add_argument("--proportions", default="75,10,15",
                   help="train,val,test proportions (whole groups; WEMD's STEM split is 75,10,15)")
    p.add_argument("--min-counts", type=float, default=MIN_COUNTS_PER_PIXEL,
                   help="TEM: keep images with at least this many electron counts per pixel")
    p.add_argument("--counts-per-value", type=float, default=None,
                   help="TEM: electron counts per stored value (default: the file's intensity "
                        "calibration where it is in counts, else 1)")
    p.add_argument("--size", type=int, default=TEM_SIZE, help="TEM: side of the resized squares")
    p.add_argument("--crop", type=int, default=CROP_SIZE, help="STEM: side of the crops")
    p.add_argument("--small", type=int, default=SMALL_SIZE, help="side of the small variants")
    p.add_argument("--stacks", default="split", choices=("split", "refuse"),
                   help="image stacks: take every frame, or reject the file")
    par = p.add_mutually_exclusive_group()
    par.add_argument("--workers", type=int, default=1, help="processes reading files")
    par.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="a Dask scheduler (tcp://HOST:8786) whose workers see SRC and --out")
    p.add_argument("--file-timeout", type=float, default=FILE_TIMEOUT_S, metavar="SECONDS",
                   help="with --workers 2 or more: a file still being read after this long is "
                        "rejected and its worker replaced (a reader that hangs never stalls the run)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_curate)


def _curate(args: argparse.Namespace) -> int:
    from wemd.curate import Rules, curate, parse_proportions
    from wemd.curate.report import proportions_text
    from wemd.errors import WEMDError

    if args.workers < 1:
        raise WEMDError(f"--workers must be 1 or more, not {args.workers}.")
    for flag, value in (("--size", args.size), ("--crop", args.crop), ("--small", args.small)):
        if not 1 <= value <= 65536:
            raise WEMDError(f"{flag} must be between 1 and 65536 pixels, not {value}.")
    if args.counts_per_value is not None and not args.counts_per_value > 0:
        raise WEMDError(f"--counts-per-value must be positive, not {args.counts_per_value}.")
    rules = Rules(kind=args.kind, crop=args.crop, small=args.small, size=args.size,
                  min_counts=args.min_counts, counts_per_value=args.counts_per_value,
                  stacks=args.stacks, group_by=args.group_by,
                  proportions=tuple(parse_proportions(args.proportions).values()))
    result = curate(args.src, args.out, args.name, rules, workers=args.workers,
                    scheduler=args.scheduler, progress=not args.quiet,
                    file_timeout=args.file_timeout)
    print(f"read {result.files} file(s) ({result.reused} from an earlier run), rejected "
          f"{len(result.rejected)}, dropped {len(result.dropped)} frame(s) or signal(s), joined "
          f"{result.duplicates} duplicate image set(s) into one split each")
    for name, counts in result.datasets.items():
        split_text = ", ".join(f"{s} {n}" for s, n in counts.items())
        print(f"  {name:<28} {split_text}   ->  {result.out / name}")
    first = next(iter(result.datasets.values()))
    print(f"  {proportions_text(first, rules.proportions)}")
    for r in result.rejected[:20]:
        print(f"  rejected {r['path']}: {r['reason']}")
    if len(result.rejected) > 20:
        print(f"  ... {len(result.rejected) - 20} more: `wemd info {args.name} --root {args.out}`")
    print(f"load with wemd.load({args.name!r}, 'test', root={str(args.out)!r}); "
          f"check with `wemd verify {args.name} --root {args.out}`")
    return 0
