"""Sub-commands that get data in and out: download, mirror build/serve, export-hf, publish, croissant."""

from __future__ import annotations

import argparse
import sys

from wemd.cli._args import add_data_options, add_root
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
    b = msub.add_parser("build", help="pack a local dataset into OUTDIR/NAME/ shards + mirror.json")
    b.add_argument("name")
    b.add_argument("outdir")
    add_root(b)
    b.add_argument("--shard-size", type=float, default=1024, help="MiB per shard (default 1024)")
    _progress_flags(b)
    b.set_defaults(func=_mirror_build)
    s = msub.add_parser("serve", help="serve a mirror folder over HTTP with Range support")
    s.add_argument("outdir")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(func=_mirror_serve)

    p = sub.add_parser("export-hf", help="write Parquet shards + a Hugging Face card into OUTDIR")
    p.add_argument("name")
    p.add_argument("outdir")
    p.add_argument("--split", default=None, help="one split only (default: every split on disk)")
    add_data_options(p, ("local", "synthetic"))
    p.add_argument("--shard-size", type=float, default=512, help="MiB per Parquet shard")
    _progress_flags(p)
    p.set_defaults(func=_export_hf)

    p = sub.add_parser("publish", help="upload an export to the Hugging Face Hub (token from HF_TOKEN)")
    p.add_argument("name")
    p.add_argument("--repo", required=True, help="Hub dataset ORG/NAME")
    p.add_argument("--from", dest="folder", default=None,
                   help="an export-hf folder (default: export now into a temporary folder)")
    add_root(p)
    p.add_argument("--private", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="show what would be uploaded")
    _progress_flags(p)
    p.set_defaults(func=_publish)

    p = sub.add_parser("croissant", help="print Croissant JSON-LD metadata of a dataset")
    p.add_argument("name")
    p.add_argument("--export", default=None, help="an export-hf folder: list its Parquet files")
    p.add_argument("--mirror", default=None, help="a mirror folder: list its shards")
    p.add_argument("--base-url", default=None, help="URL where those folders are served")
    p.add_argument("--out", default=None, help="write to this file instead of stdout")
    p.set_defaults(func=_croissant)


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

    path = build_mirror(args.name, args.outdir, root=args.root,
                        shard_bytes=int(args.shard_size * (1 << 20)), progress=args.progress)
    print(path)
    return 0


def _mirror_serve(args: argparse.Namespace) -> int:
    from wemd.range_server import serve

    server = serve(args.outdir, args.host, args.port)
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

    plan = publish(args.name, args.repo, args.folder, private=args.private, dry_run=args.dry_run,
                   root=args.root, progress=args.progress)
    verb = "would upload" if args.dry_run else "uploaded"
    print(f"{verb} {len(plan['files'])} file(s) from {plan['folder']} to "
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
