"""``wemd simulate``: regenerate exit wavefunctions from CIFs in the WEMD layout."""

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
    p.add_argument("--backend", choices=("numpy", "abtem", "cltem"), default="numpy")
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


def _cifs_argument(value: str):
    from pathlib import Path

    if "," in value and not Path(value).exists():
        return [v for v in value.split(",") if v]
    return value


def _simulate(args: argparse.Namespace) -> int:
    from wemd.simulation.runner import simulate_dataset

    overrides = key_values(args.override, "--override", "depth_nm=[5,10]", json_only=True)
    options = {}
    if args.backend == "cltem":
        options = {"executable": args.cltem, "device": args.cltem_device,
                   "kernel_terms": args.cltem_terms}
    summary = simulate_dataset(
        _cifs_argument(args.cifs), args.variant, args.out, backend=args.backend,
        workers=args.workers, scheduler=args.scheduler, seed=args.seed,
        protocol_overrides=overrides or None, draws_per_cif=args.draws, cod_url=args.cod_url,
        backend_options=options or None, progress=not args.quiet,
        command="wemd " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    counts = ", ".join(f"{s} {n}" for s, n in summary["splits"].items())
    print(f"{args.variant}: {counts} in {summary['out']} ({summary['ran']} simulated, "
          f"{summary['skipped']} already done, {len(summary['failures'])} failures"
          + (f", see {summary['out']}/failures.json" if summary["failures"] else "") + ")")
    return 0
