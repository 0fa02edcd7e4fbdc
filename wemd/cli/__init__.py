"""The ``wemd`` command line. Each topic module registers its own sub-commands.

Add a command: write ``register(sub)`` (and the function it calls) in the topic module it
belongs to, or in a new module listed in ``COMMANDS``; take ``--source``/``--root``/``--scale``
and ``KEY=VALUE`` parsing from ``wemd.cli._args`` so every command spells them alike. Help shows
every option's default (``_args.HelpFormatter``). Errors are raised as ``WEMDError`` and printed
by ``main`` as one line naming the problem and the fix.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from wemd.cli._args import Parser, resolve_source
from wemd.errors import WEMDError

#: Modules with a ``register(subparsers)`` function; add one line per topic.
COMMANDS = (
    "wemd.cli.data",
    "wemd.cli.get",
    "wemd.cli.simulate",
    "wemd.cli.tasks",
    "wemd.cli.leaderboard",  # board folders and the board server
    "wemd.cli.viz",
    "wemd.cli.synth",
    "wemd.cli.train",  # after wemd.cli.tasks: adds alrc-study to its `baseline` group
    "wemd.cli.stores",  # convert, stats (zarr / HDF5 / Dask)
    "wemd.cli.curate",  # curate a lab's own microscope files
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="wemd", description="Warwick Electron Microscopy Datasets")
    parser.add_argument("--version", action="version", version=f"wemd {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def _version() -> str:
    from wemd import __version__

    return __version__


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        resolve_source(args)
        return int(args.func(args) or 0)
    except WEMDError as exc:
        print(f"wemd: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wemd: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
