"""Options and argument parsing shared by the sub-commands, defined once.

Every command that reads a dataset takes ``--root`` (and where it can read other copies,
``--source``) from here, with the same names, help and choices; ``KEY=VALUE`` overrides
(``--param``, ``--override``) are parsed by :func:`key_values`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Iterable, Sequence

from wemd.errors import WEMDError

#: Where ``wemd.load`` can read a dataset from (``hf`` needs an export or a Hub repo).
SOURCES = ("local", "synthetic", "hf")
ROOT_HELP = "data home or dataset folder (default: WEMD_HOME)"


def add_root(p: argparse.ArgumentParser, help: str = ROOT_HELP) -> None:
    """``--root``: the data home (or one dataset folder) to read instead of WEMD_HOME."""
    p.add_argument("--root", default=None, help=help)


def add_source(p: argparse.ArgumentParser, sources: Sequence[str] = SOURCES,
               default: str = "local", note: str = "") -> None:
    """``--source``: which copy of the data to read (local files, the synthetic stand-in, ...)."""
    p.add_argument("--source", default=default, choices=tuple(sources),
                   help=f"data source: {', '.join(sources)} (default: {default}){note}")


def add_data_options(p: argparse.ArgumentParser, sources: Sequence[str] = SOURCES,
                     default: str = "local", note: str = "") -> None:
    """``--source`` and ``--root`` together, as every data-reading command takes them."""
    add_source(p, sources, default, note)
    add_root(p)


def key_values(items: Iterable[str], flag: str, example: str, *,
               json_only: bool = False) -> dict[str, Any]:
    """``KEY=VALUE`` strings as a dict; values are JSON where they parse (``json_only``: must)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise WEMDError(f"{flag} takes KEY=VALUE (e.g. {example}), not {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError as exc:
            if json_only:
                raise WEMDError(f"{flag} {item!r}: the value must be JSON, e.g. {example}") from exc
            out[key] = value
    return out
