"""Sub-commands that get data in and out: download, mirror build/serve, export-hf, publish, croissant."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from wemd.cli._args import add_data_options, add_root, data_root
from wemd.errors import WEMDError
from wemd.fetch import DEFAULT_WORKERS, Bounds


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download a dataset from wemd mirrors, verified and resumable")
    p.add_argument("name")
    p.add_argument("--split", default=None, help="one split only (default: all)")
    p.add_argument("--mirror", action="append", default=None, metavar="URL",
                   help="mirror base URL, tried in the order given (default: $WEMD_MIRRORS)")
    add_root(p, "data home (default: WEMD_HOME)")
    p.add_argument("--retries", type=int, default=2, help="retries per shard and mirror")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds without data before giving up")
    p.add_argument("--deadline", type=float, default=Bounds().deadline,
                   help="seconds one shard may take, all attempts together (default: %(default)s)")
    p.add_argument("--min-rate", type=float, default=Bounds().min_rate / 1024,
                   help="KiB/s a transfer must keep over each minute (default: %(default)s)")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help="shards streamed at once (default: %(default)s)")
    _progress_flags(p)
    p.set_defaults(func=_download)

    p = sub.add_parser("mirror", help="build or serve a static mirror (tar shards + mirror.json)")
    msub = p.add_subparsers(dest="mirror_command", metavar="ACTION", required=True)
    _pack_parser(msub, "build", "pack a dataset into OUTDIR/NAME/ shards + mirror.json", 1024,
                 "MiB per shard", _mirror_build)
    s = msub.add_parser("serve", help="serve a mirror folder over HTTP with Range support")
    s.add_argument("outdir")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(func=_mirror_serve)

    p = _pack_parser(sub, "export-hf", "write Parquet shards + a Hugging Face card into OUTDIR",
                     512, "MiB per Parquet shard", _export_hf)
    p.add_argument("--split", default=None, help="one split only (default: every split on disk)")

    p = sub.add_parser("publish", help="upload an export to the Hugging Face Hub (token from HF_TOKEN)")
    p.add_argument("name")
    p.add_argument("--repo", required=True, help="Hub dataset ORG/NAME")
    p.add_argument("--from", dest="folder", default=None,
                   help="an export-hf folder (default: export now into a temporary folder)")
    add_data_options(p, ("local", "synthetic"))
    p.add_argument("--private", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="show what would be uploaded")
    _progress_flags(p)
    p.set_defaults(func=_publish)

    p = sub.add_parser("croissant", help="print Croissant JSON-LD metadata of a dataset")
    p.add_argument("name")
    p.add_argument("--export", default=None,
                   help="an export-hf folder: list its Parquet files and read records from it "
                        "wherever the JSON is saved")
    p.add_argument("--mirror", default=None, help="a mirror folder: list its shards")
    p.add_argument("--base-url", default=None,
                   help="URL where those folders are published (default: their absolute paths "
                        "on this machine)")
    p.add_argument("--out", default=None, help="write to this file instead of stdout")
    p.set_defaults(func=_croissant)


def _pack_parser(sub: argparse._SubParsersAction, name: str, help: str, shard_mib: float,
                 shard_help: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    """A command that packs dataset NAME into OUTDIR in shards (``mirror build``, ``export-hf``)."""
    p = sub.add_parser(name, help=help)
    p.add_argument("name")
    p.add_argument("outdir")
    add_data_options(p, ("local", "synthetic"))
    p.add_argument("--shard-size", type=float, default=shard_mib, help=shard_help)
    _progress_flags(p)
    p.set_defaults(func=func)
    return p


def _progress_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show progress bars (default: when stderr is a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false")


def _download(args: argparse.Namespace) -> int:
    from wemd.download import download

    result = download(args.name, args.split, mirrors=args.mirror, root=args.root,
                      progress=args.progress, retries=args.retries, timeout=args.timeout,
                      deadline=args.deadline, min_rate=args.min_rate * 1024, workers=args.workers)
    print(result)
    return 0


def _mirror_build(args: argparse.Namespace) -> int:
    from wemd.mirror import build_mirror

    path = build_mirror(args.name, args.outdir, root=data_root(args, build=args.name),
                        shard_bytes=int(args.shard_size * (1 << 20)), progress=args.progress)
    print(path)
    return 0


def _mirror_serve(args: argparse.Namespace) -> int:
    from wemd.range_server import serve

    try:
        server = serve(args.outdir, args.host, args.port)
    except OSError as exc:  # the port is taken, or the host is not this machine's
        raise WEMDError(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
                        "choose another --port (0 picks a free one) or --host.") from exc
    print(f"serving {args.outdir} at http://{args.host}:{server.server_address[1]} (Ctrl-C stops)",
          file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _export_hf(args: argparse.Namespace) -> int:
    from wemd.export.hf import export_hf

    card = export_hf(args.name, args.outdir, args.split, root=args.root, source=args.source,
                     shard_bytes=int(args.shard_size * (1 << 20)), progress=args.progress)
    print(card)
    return 0


def _publish(args: argparse.Namespace) -> int:
    from wemd.export.hub import publish

    root = args.root if args.folder else data_root(args, build=args.name)
    plan = publish(args.name, args.repo, args.folder, private=args.private, dry_run=args.dry_run,
                   root=root, progress=args.progress)
    verb = "would upload" if args.dry_run else "uploaded"
    where = (f"a temporary export of {args.name} (removed again; `wemd export-hf` keeps one)"
             if plan["temporary"] else plan["folder"])
    print(f"{verb} {len(plan['files'])} file(s) from {where} to "
          f"https://huggingface.co/datasets/{plan['repo']}")
    return 0


def _croissant(args: argparse.Namespace) -> int:
    import json

    from wemd.export.croissant import croissant

    text = json.dumps(croissant(args.name, export=args.export, mirror=args.mirror,
                                base_url=args.base_url), indent=2) + "\n"
    if args.out:
        from wemd.files import write_text

        write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0
