"""Sub-commands that get data in and out: download, mirror build/serve, export-hf, publish, croissant."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download a dataset from wemd mirrors, verified and resumable")
    p.add_argument("name")
    p.add_argument("--split", default=None, help="one split only (default: all)")
    p.add_argument("--mirror", action="append", default=None, metavar="URL",
                   help="mirror base URL, tried in the order given (default: $WEMD_MIRRORS)")
    p.add_argument("--root", default=None, help="data home (default: WEMD_HOME)")
    p.add_argument("--retries", type=int, default=2, help="retries per shard and mirror")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds without data before giving up")
    _progress_flags(p)
    p.set_defaults(func=_download)

    p = sub.add_parser("mirror", help="build or serve a static mirror (tar shards + mirror.json)")
    msub = p.add_subparsers(dest="mirror_command", metavar="ACTION", required=True)
    b = msub.add_parser("build", help="pack a local dataset into OUTDIR/NAME/ shards + mirror.json")
    b.add_argument("name")
    b.add_argument("outdir")
    b.add_argument("--root", default=None, help="data home or dataset folder (default: WEMD_HOME)")
    b.add_argument("--shard-size", type=float, default=1024, help="MiB per shard (default 1024)")
    _progress_flags(b)
    b.set_defaults(func=_mirror_build)
    s = msub.add_parser("serve", help="serve a mirror folder over HTTP with Range support")
    s.add_argument("outdir")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(func=_mirror_serve)


def _progress_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show progress bars (default: when stderr is a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false")


def _download(args: argparse.Namespace) -> int:
    from wemd.download import download

    result = download(args.name, args.split, mirrors=args.mirror, root=args.root,
                      progress=args.progress, retries=args.retries, timeout=args.timeout)
    print(result)
    return 0


def _mirror_build(args: argparse.Namespace) -> int:
    from wemd.mirror import build_mirror

    path = build_mirror(args.name, args.outdir, root=args.root,
                        shard_bytes=int(args.shard_size * (1 << 20)), progress=args.progress)
    print(path)
    return 0


def _mirror_serve(args: argparse.Namespace) -> int:
    from wemd.mirror import serve

    server = serve(args.outdir, args.host, args.port)
    print(f"serving {args.outdir} at http://{args.host}:{server.server_address[1]} (Ctrl-C stops)",
          file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
