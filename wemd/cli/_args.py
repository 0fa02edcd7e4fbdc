"""Options and argument parsing shared by the sub-commands, defined once.

Every command that reads a dataset takes ``--source``, ``--root``, ``--scale`` and
``--synth-seed`` from :func:`add_data_options` (board commands, which read no data, take all but
``--root`` from :func:`add_source`), with the same names, help and choices. ``main`` then folds
``--scale``/``--synth-seed`` into ``args.source`` as ``wemd.load`` spells one synthetic build
(``"synthetic:tiny-3"``, :func:`resolve_source`), so commands hand ``args.source`` on unchanged
and result records name the build they were scored on. Commands that take a folder instead of a
source ask :func:`data_root` for it. ``KEY=VALUE`` overrides (``--param``, ``--override``) are
parsed by :func:`key_values`.

The synthetic seed is ``--synth-seed``, not ``--seed``: ``baseline run``, ``map``, ``explore``
and ``search`` already have a ``--seed`` of their own (the method's). ``wemd synth`` and
``wemd quickstart`` take both spellings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

from wemd.api import split_source, synthetic_source
from wemd.errors import WEMDError

#: Where ``wemd.load`` can read a dataset from (``hf`` needs an export or a Hub repo).
SOURCES = ("local", "synthetic", "hf")
#: The synthetic build ``source="synthetic"`` reads when no scale or seed is given (those of
#: ``wemd.synthetic.load_synthetic``).
DEFAULT_SCALE, DEFAULT_SYNTH_SEED = "small", 0
ROOT_HELP = ("data home or dataset folder (default: WEMD_HOME); with --source synthetic, the data "
             "home whose synthetic/SCALE-SEED/ holds the build")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows each option's default, unless it has none (None, False, []) or says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        value = action.default
        if "default" in text or value is None or value is False or value == []:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """The parser of ``wemd`` and (as the type of its sub-parsers) of every sub-command."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


class _Scales(Sequence[str]):
    """The synthetic build's scale names (``wemd.synthetic.builder.SCALES``), imported on first
    use: argparse reads choices only when ``--scale`` is given or help is shown, so building the
    parser never imports the synthetic build."""

    def _names(self) -> tuple[str, ...]:
        from wemd.synthetic.builder import SCALES

        return tuple(SCALES)

    def __getitem__(self, i: Any) -> Any:
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


def add_root(p: argparse.ArgumentParser, help: str = ROOT_HELP) -> None:
    """``--root``: the data home (or one dataset folder) to read instead of WEMD_HOME."""
    p.add_argument("--root", default=None, help=help)


def add_scale(p: argparse.ArgumentParser, what: str, default: Optional[str] = None) -> None:
    """``--scale``: one of the synthetic build's scales (``tiny``, ``small``, ``medium``)."""
    p.add_argument("--scale", default=default, choices=_Scales(), metavar="SCALE",
                   help=f"{what}: %(choices)s (default: {default or DEFAULT_SCALE})")


def add_source(p: argparse.ArgumentParser, sources: Sequence[str] = SOURCES,
               default: Optional[str] = "local", note: str = "") -> None:
    """``--source`` (which copy of the data: local files, the synthetic stand-in, ...) and the
    ``--scale``/``--synth-seed`` of the synthetic build it reads."""
    shown = default if default is not None else "none"
    p.add_argument("--source", default=default, choices=tuple(sources),
                   help=f"data source: {', '.join(sources)} (default: {shown}){note}")
    add_scale(p, "with --source synthetic, the build's scale")
    p.add_argument("--synth-seed", type=int, default=None, metavar="SEED",
                   help=f"with --source synthetic, the build's seed (default: {DEFAULT_SYNTH_SEED})")


def add_data_options(p: argparse.ArgumentParser, sources: Sequence[str] = SOURCES,
                     default: Optional[str] = "local", note: str = "") -> None:
    """``--source`` (with ``--scale``, ``--synth-seed``) and ``--root``, as every data-reading
    command takes them."""
    add_source(p, sources, default, note)
    add_root(p)


# -------------------------------------------------------------------------- the chosen source

def resolve_source(args: argparse.Namespace) -> None:
    """Fold ``--scale``/``--synth-seed`` into ``args.source`` (``wemd.api.synthetic_source``; plain
    ``"synthetic"``, the default build, when neither is given); refuse them with another source."""
    if not hasattr(args, "synth_seed"):
        return
    scale, seed = args.scale, args.synth_seed
    if scale is None and seed is None:
        return
    if args.source != "synthetic":
        raise WEMDError("--scale and --synth-seed choose a synthetic build: add --source synthetic "
                        f"(the source is {args.source or 'not given'}).")
    if seed is not None and seed < 0:
        raise WEMDError(f"--synth-seed must be 0 or more, not {seed}.")
    args.source = synthetic_source(scale or DEFAULT_SCALE,
                                   DEFAULT_SYNTH_SEED if seed is None else seed)


def synthetic_build(source: str) -> Optional[tuple[str, int]]:
    """``(scale, seed)`` of the synthetic build a source spelling reads; None for other sources."""
    name, options = split_source(source)
    if name != "synthetic":
        return None
    return options.get("scale", DEFAULT_SCALE), options.get("seed", DEFAULT_SYNTH_SEED)


def source_key(source: str) -> tuple[Any, ...]:
    """What a source spelling reads, equal for equal data: ``("synthetic", "small", 0)`` for both
    ``"synthetic"`` and ``"synthetic:small-0"``; an unreadable spelling stands for itself."""
    try:
        build = synthetic_build(source)
    except ValueError:
        return (source,)
    return ("synthetic", *build) if build else (source,)


def describe_source(source: str) -> str:
    """A source for a sentence: ``local data``, ``synthetic (scale tiny, seed 0)``."""
    key = source_key(source)
    return f"synthetic (scale {key[1]}, seed {key[2]})" if key[0] == "synthetic" else f"{source} data"


def synth_command(scale: str, seed: int, names: Iterable[str]) -> str:
    """The ``wemd synth`` command line that builds ``names`` at this scale and seed."""
    return f"wemd synth --scale {scale} --seed {seed} --only {' '.join(names)}"


def data_root(args: argparse.Namespace, build: Optional[str] = None) -> Any:
    """The root holding the chosen source's datasets, for commands that take a folder.

    ``--root`` for local data; for ``--source synthetic``, the build of that scale and seed
    (``{data home}/synthetic/SCALE-SEED``), where dataset ``build`` is first built if it is not
    yet, as ``wemd.load`` does. Commands that only look (path, info, verify) never build.
    """
    chosen = synthetic_build(args.source)
    if chosen is None:
        return args.root
    from wemd.synthetic import build as build_synthetic
    from wemd.synthetic import synthetic_root

    scale, seed = chosen
    if build is not None:
        build_synthetic([build], root=args.root, scale=scale, seed=seed,
                        progress=getattr(args, "progress", None) is not False)
    return synthetic_root(args.root, scale, seed)


def built_root(args: argparse.Namespace, name: str) -> Any:
    """:func:`data_root` for a command that reads ``name`` as it is on disk (``wemd verify``):
    a synthetic build that is not there yet is an error naming the command that builds it."""
    root = data_root(args)
    chosen = synthetic_build(args.source)
    if chosen is not None and not (Path(root) / name).is_dir():
        raise WEMDError(f"The synthetic build of {name} (scale {chosen[0]}, seed {chosen[1]}) is "
                        f"not at {Path(root) / name} yet: build it with `"
                        f"{synth_command(*chosen, [name])}` (any command that reads its items "
                        "also builds it on first use).")
    return root


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
