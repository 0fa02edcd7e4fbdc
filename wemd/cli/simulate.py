"""``wemd simulate`` (exit wavefunctions from CIFs in the WEMD layout) and ``wemd simulate-check``
(intensity and convergence of the waves a run made)."""

from __future__ import annotations

import argparse
import shlex
import sys

from wemd.cli._args import key_values

VARIANT_HELP = ("wavefunctions, wavefunctions_restricted, wavefunctions_single, wavefunctions_n1, "
                "..._unseen, wavefunctions_96x96[_restricted|_single]")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate exit wavefunctions from CIFs (WEMD protocol)",

                       description="Simulate a wavefunction variant from CIFs into OUT in the "
                                   "WEMD layout. Re-run the same command to resume.")
    p.add_argument("--cifs", required=True,
                   help="folder of .cif files, a text file of paths or COD ids, or comma-separated "
                        "COD ids / paths")
    p.add_argument("--variant", required=True, help=VARIANT_HELP)
    p.add_argument("--out", required=True, help="output folder (load it with root=OUT)")
    p.add_argument("--backend", choices=("numpy", "torch", "abtem", "cltem"), default="numpy")
    p.add_argument("--device", default=None,
                   help="torch device of --backend torch (cpu, cuda, cuda:N; default cpu)")
    p.add_argument("--split-by", choices=("journal", "structure"), default="journal",
                   help="journal: WEMD's journal table (any spelling); structure: a hash of each "
                        "structure, so one structure is never in two splits")
    p.add_argument("--split-map", default=None, metavar="FILE",
                   help='JSON object journal -> split, e.g. {"Acta Cryst. B": "train"}, used '
                        "instead of WEMD's table (recorded: never passes for the published split)")
    finer = p.add_mutually_exclusive_group()
    finer.add_argument("--grid", type=int, default=None, metavar="N",
                       help="simulate on an N x N grid instead of the protocol's 512 (finer, "
                            "recorded as non-standard; stored waves keep the 320 px view)")
    finer.add_argument("--sampling", type=float, default=None, metavar="ANGSTROM",
                       help="simulate at this pixel size (finer than the protocol's, recorded "
                            "as non-standard)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of a Dask scheduler")
    where.add_argument("--workers", type=int, default=None,
                       help="worker processes of a local Dask cluster (default: one per core; "
                            "1: no cluster, run in this process)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draws", type=int, default=None, help="draws per CIF (default: protocol's)")
    p.add_argument("--override", action="append", default=[], metavar="FIELD=JSON",
                   help='change a protocol field, e.g. --override depth_nm=[5,10] (recorded)')
    p.add_argument("--cod-url", default=None, help="base address for COD ids ({url}{id}.cif)")
    p.add_argument("--cltem", default=None, help="path of clTEM_cmd (backend cltem)")
    p.add_argument("--cltem-device", default="default", help="clTEM -d argument")
    p.add_argument("--cltem-terms", type=int, default=3,
                   help="Kirkland terms the clTEM build sums (1 only for the old n = 1 kernel)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_simulate)

    c = sub.add_parser("simulate-check",
                       help="intensity and convergence of simulated waves, worst first, "
                            "with a figure",
                       description="Read the metadata of every wave in OUT (a wemd simulate "
                                   "output), print the waves furthest from conserving intensity "
                                   "and write OUT/simulate-check.png: intensity and intensity "
                                   "lost at the band limit against atomic number and thickness.")
    c.add_argument("out", help="folder written by wemd simulate")
    c.add_argument("--worst", type=int, default=10, help="waves to list")
    c.add_argument("--figure", default=None,
                   help="where to write the PNG (default OUT/simulate-check.png)")
    c.add_argument("--rerun", type=int, default=0, metavar="K",
                   help="simulate the K worst waves again on a finer grid and measure their "
                        "error (needs --cifs); results in OUT/convergence.json")
    c.add_argument("--cifs", default=None, help="folder of the CIFs the run read (for --rerun)")
    c.add_argument("--factor", type=int, default=2, help="how much finer --rerun samples")
    c.set_defaults(func=_check)


def _cifs_argument(value: str):
    from pathlib import Path

    if "," in value and not Path(value).exists():
        return [v for v in value.split(",") if v]
    return value


def _simulate(args: argparse.Namespace) -> int:
    from wemd.simulation.runner import SimulationRunError, simulate_dataset

    if args.device is not None and args.backend != "torch":
        raise SimulationRunError(f"--device {args.device} chooses where --backend torch runs; "
                                 f"add --backend torch (the {args.backend} backend has no "
                                 "--device)")
    overrides = key_values(args.override, "--override", "depth_nm=[5,10]", json_only=True)
    if args.grid is not None:
        overrides["sim_grid"] = args.grid
    if args.sampling is not None:
        overrides["sampling"] = args.sampling
    options = {}
    if args.backend == "cltem":
        options = {"executable": args.cltem, "device": args.cltem_device,
                   "kernel_terms": args.cltem_terms}
    elif args.backend == "torch":
        options = {"device": args.device or "cpu"}
    summary = simulate_dataset(
        _cifs_argument(args.cifs), args.variant, args.out, backend=args.backend,
        workers=args.workers, scheduler=args.scheduler, seed=args.seed,
        protocol_overrides=overrides or None, draws_per_cif=args.draws, cod_url=args.cod_url,
        split_by=args.split_by, split_map=args.split_map,
        backend_options=options or None, progress=not args.quiet,
        command="wemd " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    counts = ", ".join(f"{s} {n}" for s, n in summary["splits"].items())
    print(f"{args.variant}: {counts} in {summary['out']} ({summary['ran']} simulated, "
          f"{summary['skipped']} already done, {len(summary['failures'])} failures"
          + (f", see {summary['out']}/failures.json" if summary["failures"] else "") + ")")
    return 0


def _check(args: argparse.Namespace) -> int:
    from wemd.simulation.check import check_run

    from wemd.simulation.check import CheckError, rerun

    report = check_run(args.out, figure=args.figure, worst=args.worst)
    if args.rerun:
        if not args.cifs:
            raise CheckError("--rerun needs --cifs DIR, the folder of the CIFs the run read")
        rerun(report, args.cifs, args.rerun, args.factor)
    print(report.summary())
    return 0
