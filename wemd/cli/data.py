"""Sub-commands about the datasets themselves: list, info, verify, path, cards.

``info``, ``verify`` and ``path`` look at one dataset folder: the local one, or with
``--source synthetic`` the synthetic build's (``{data home}/synthetic/SCALE-SEED/NAME``). They
never build it; ``verify`` names the ``wemd synth`` command when it is not there yet.
"""

from __future__ import annotations

import argparse
import json
import sys

from wemd.cli._args import add_data_options, add_root, built_root, data_root
from wemd.cli.stores import STORE_KINDS, add_store_input, store_kwargs

#: Sources of the commands that look at one dataset folder.
FOLDER_SOURCES = ("local", "synthetic")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="every dataset with a one-line description, and the datasets "
                                    "curated from a lab's files (wemd curate) in the data home")
    add_root(p, help="data home whose curated datasets are listed too (default: WEMD_HOME)")
    p.set_defaults(func=_list)

    p = sub.add_parser("info", help="what the catalog knows about one dataset")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_data_options(p, FOLDER_SOURCES)
    p.set_defaults(func=_info)

    p = sub.add_parser("verify", help="check a dataset on disk or a zarr/HDF5 store: counts, "
                       "files, shapes, hashes, store fingerprints")
    p.add_argument("name")
    p.add_argument("--split", default=None, help="one split only (default: all on disk)")
    add_store_input(p, FOLDER_SOURCES + STORE_KINDS)
    p.add_argument("--no-hashes", action="store_true", help="skip sha256 checks")
    p.set_defaults(func=_verify)

    p = sub.add_parser("path", help="where a dataset is expected on disk")
    p.add_argument("name")
    add_data_options(p, FOLDER_SOURCES)
    p.set_defaults(func=_path)

    p = sub.add_parser("cards", help="write the data cards generated from the catalog")
    p.add_argument("--out", default="data_cards")
    p.set_defaults(func=_cards)


def _list(args: argparse.Namespace) -> int:
    from wemd import catalog

    curated, bad = catalog.declared_in(args.root)
    specs = list(catalog.CATALOG.values()) + curated
    width = max(len(s.name) for s in specs)
    for spec in specs:
        counts = "/".join(str(n) for n in spec.splits.values())
        mark = "[curated] " if spec.declared_at is not None else ""
        print(f"{spec.name:<{width}}  {counts:<20}  {mark}{spec.description}")
    for line in bad:
        print(f"not listed: {line}", file=sys.stderr)
    return 0


def _info(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from wemd import catalog
    from wemd.home import dataset_dir

    spec = catalog.get(args.name, data_root(args))
    info = asdict(spec) | {"total": spec.total,
                           "expected_at": str(dataset_dir(spec.name, data_root(args)))}
    if spec.declared_at is not None:
        from wemd.curate.report import curated_info

        info |= curated_info(spec)
    if args.json:
        print(json.dumps(info, indent=2, default=list))
        return 0
    for key, value in info.items():
        if value in (None, (), [], ""):
            continue
        if isinstance(value, (list, tuple)) and key in ("notes", "discrepancies", "duplicates",
                                                         "rejected", "dropped"):
            print(f"{key}:")
            for v in value:
                print(f"  - {v}")
        else:
            print(f"{key}: {value}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from wemd import catalog
    from wemd.verify import verify

    if args.source in STORE_KINDS:
        report = verify(args.name, split=args.split, source=args.source, **store_kwargs(args))
    else:
        store_kwargs(args)  # refuses --url without a store source
        catalog.get(args.name, built_root(args, args.name))
        report = verify(args.name, split=args.split, root=built_root(args, args.name),
                        hashes=not args.no_hashes)
    print(report)
    return 0 if report.ok else 1


def _path(args: argparse.Namespace) -> int:
    from wemd import catalog
    from wemd.home import dataset_dir

    catalog.get(args.name, data_root(args))
    print(dataset_dir(args.name, data_root(args)))
    return 0


def _cards(args: argparse.Namespace) -> int:
    from wemd.cards import write_cards

    for path in write_cards(args.out):
        print(path)
    return 0
