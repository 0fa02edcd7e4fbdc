"""``wemd leaderboard``: a board folder (submit records, show, render, schema) and a board server
(serve, token, submit --server, status, show/render --server, export, import, rescore).

``--source`` (with ``--scale``/``--synth-seed``) means: for ``submit`` of records, the data the
fingerprints are checked on (default: the one each record names); for ``show``/``render``, which
entries to show: those scored on that data (``--source synthetic`` alone: on any synthetic
build); for ``serve``, the data the server scores on (with ``--root``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from wemd.cli._args import add_data_options, add_source, describe_source, key_values, source_key
from wemd.cli.tasks import _board_arg
from wemd.errors import WEMDError, require

MiB = 1 << 20


def _needs(*modules: str) -> None:
    """The board server's packages, or an error naming the extra (``wemd[server]``)."""
    for module in modules:
        require(module, "server")


def _server_arg(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--server", default=None, required=required,
                   help="URL of a board server, e.g. http://127.0.0.1:8080")


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True,
                   help="board database: sqlite:///board.sqlite or postgresql://USER@HOST/DB")


def _data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="folder for uploads and caches (default: beside an "
                                                "SQLite file, else ./wemd-board-data)")


def register(sub: argparse._SubParsersAction) -> None:
    lb = sub.add_parser("leaderboard", help="submit results, show and render the board, host a "
                                            "board server")
    lsub = lb.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    p = lsub.add_parser("submit", help="add result records to a board folder, or (--server) "
                                       "submit predictions or an ONNX model to a board server")
    p.add_argument("items", nargs="+", metavar="ITEM",
                   help="record files; with --server: TASK, then prediction files (one per seed)")
    add_data_options(p, default=None, note="; records: the data the fingerprint is checked on, "
                                           "by default the one each record names")
    _board_arg(p)
    _server_arg(p)
    p.add_argument("--token", default=None, help="--server: your bearer token")
    p.add_argument("--method", default=None, help="--server: method name shown on the board")
    p.add_argument("--model", nargs="+", default=None, metavar="ONNX",
                   help="--server: ONNX models (one per seed) the server runs itself")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="--server: seed of each file")
    p.add_argument("--kind", choices=("classical", "learned"), default=None,
                   help="--server: default learned for several files, else classical")
    p.add_argument("--n", type=int, default=None, help="--server: number of instances "
                                                      "(default: the paper's)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="--server: protocol parameter (non-standard, e.g. crop=64); repeatable")
    p.add_argument("--code-url", default=None)
    p.add_argument("--wait", action="store_true", help="--server: wait until it is scored")
    p.set_defaults(func=_submit)

    p = lsub.add_parser("status", help="where a submission to a board server stands")
    p.add_argument("submission")
    _server_arg(p, required=True)
    p.add_argument("--wait", action="store_true", help="wait until it is done or failed")
    p.set_defaults(func=_status)

    p = lsub.add_parser("show", help="terminal table of one task (or all tasks with entries)")
    p.add_argument("name", nargs="?")
    _board_arg(p)
    _server_arg(p)
    add_source(p, default=None, note="; given: only the entries scored on that data")
    p.set_defaults(func=_show)
    p = lsub.add_parser("render", help="write Markdown + static HTML pages with plots")
    p.add_argument("outdir")
    _board_arg(p)
    _server_arg(p)
    add_source(p, default=None, note="; given: only the entries scored on that data")
    p.set_defaults(func=_render)
    p = lsub.add_parser("schema", help="print the JSON schema of result records")
    p.set_defaults(func=_schema)

    p = lsub.add_parser("serve", help="host a board server that scores submissions itself")
    _db_arg(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every one)")
    p.add_argument("--port", type=int, default=8080, help="TCP port")
    p.add_argument("--workers", type=int, default=1, help="scoring processes")
    add_data_options(p, ("local", "synthetic"), "local", "; the data submissions are scored on")
    _data_arg(p)
    p.add_argument("--upload-cap-mb", type=int, default=512, help="largest upload (MiB)")
    p.add_argument("--model-cap-mb", type=int, default=200, help="largest ONNX model (MiB)")
    p.add_argument("--model-timeout", type=float, default=600.0, help="seconds a model may run")
    p.add_argument("--model-memory-mb", type=int, default=4096, help="memory a model may use (MiB)")
    p.add_argument("--rate", type=int, default=60, help="uploads + submissions per token per minute")
    p.set_defaults(func=_serve)

    p = lsub.add_parser("rescore", help="score a board server's stored uploads again with the "
                                        "current evaluator and report what changed")
    p.add_argument("entries", nargs="*", metavar="ENTRY", help="entry ids (or --all)")
    p.add_argument("--all", action="store_true", help="every entry made by the server")
    _db_arg(p)
    add_data_options(p, ("local", "synthetic"), "local", "; the data to score on, as `serve`'s")
    _data_arg(p)
    p.add_argument("--write", action="store_true",
                   help="store the new scores in the changed entries (default: only report)")
    p.set_defaults(func=_rescore)

    tok = lsub.add_parser("token", help="create, revoke and list a board server's tokens")
    tsub = tok.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    for action, text in (("create", "a new token, printed once"), ("revoke", "revoke a token")):
        p = tsub.add_parser(action, help=text)
        p.add_argument("name")
        _db_arg(p)
        p.set_defaults(func=_token)
    p = tsub.add_parser("list", help="token names, and when they were made and revoked")
    _db_arg(p)
    p.set_defaults(func=_token, name=None)

    p = lsub.add_parser("export", help="write a board server's entries as record files (a board folder)")
    _server_arg(p, required=True)
    p.add_argument("out", help="board folder to write (render it with `render --board OUT`)")
    p.set_defaults(func=_export)
    p = lsub.add_parser("import", help="load a folder of records into a board server's database "
                                       "(marked self-reported)")
    p.add_argument("folder", help="a board folder, or a folder of record .json files")
    _db_arg(p)
    p.set_defaults(func=_import)


def _submit(args: argparse.Namespace) -> int:
    if args.server:
        return _submit_server(args)
    from wemd.leaderboard import Board, read_record
    from wemd.leaderboard.board import record_task

    board = Board(args.board)
    for path in args.items:
        record = read_record(path)
        ds = None
        if args.source is not None:  # check on the chosen data, not the record's own source
            import wemd

            task = record_task(record)
            ds = wemd.load(task.dataset, task.split, source=args.source, root=args.root)
        print(f"submitted: {board.submit(record, root=args.root, ds=ds)}")
    return 0


def _submit_server(args: argparse.Namespace) -> int:
    _needs("httpx")
    from wemd.leaderboard.server.client import Client

    task, files = args.items[0], args.items[1:]
    if not args.method:
        raise WEMDError("--server submissions need --method NAME (shown on the board).")
    if bool(files) == bool(args.model):
        raise WEMDError("Give prediction files after the task name, or --model ONNX files; not both.")
    with Client(args.server, token=args.token) as client:
        ans = client.submit(task, files or None, model=args.model, method=args.method,
                            seeds=args.seeds, kind=args.kind, n=args.n, code_url=args.code_url,
                            params=key_values(args.param, "--param", "crop=64"))
        print(f"submission {ans['id']}: {ans['status']} "
              f"(`wemd leaderboard status {ans['id']} --server {args.server}`)")
        if args.wait:
            return _print_status(client.wait(ans["id"]))
    return 0


def _print_status(ans: dict[str, Any]) -> int:
    print(f"{ans['id']}: {ans['status']} ({ans['task']}, {ans['method']}, {ans['mode']})")
    if ans.get("entry_id"):
        print(f"entry: {ans['entry_id']}")
    if ans.get("reason"):
        print(f"reason: {ans['reason']}")
    return 1 if ans["status"] == "failed" else 0


def _status(args: argparse.Namespace) -> int:
    _needs("httpx")
    from wemd.leaderboard.server.client import Client

    with Client(args.server) as client:
        return _print_status(client.wait(args.submission) if args.wait else client.status(args.submission))


def _board(args: argparse.Namespace) -> Any:
    """The board of ``--server`` or ``--board``; with ``--source``, a view of the entries scored
    on that data (``--source synthetic`` alone: on any synthetic build)."""
    from wemd.leaderboard import Board
    from wemd.leaderboard.board import RecordsBoard

    if args.server:
        _needs("httpx")
        from wemd.leaderboard.server.client import Client

        with Client(args.server) as client:
            board = client.board()
    else:
        board = Board(args.board)
    if args.source is None:
        return board
    wanted = source_key(args.source)
    if wanted[0] == "synthetic" and args.scale is None and args.synth_seed is None:
        keep, scored_on = (lambda key: key[0] == "synthetic"), "synthetic data"
    else:
        keep, scored_on = (lambda key: key == wanted), describe_source(args.source)
    view = RecordsBoard([r for r in board.entries() if keep(source_key(r["data"]["source"]))],
                        str(board.path))
    view.scored_on = scored_on
    return view


def _show(args: argparse.Namespace) -> int:
    board = _board(args)
    names = [args.name] if args.name else sorted({r["task"] for r in board.entries()})
    if args.source is not None and not any(board.entries(n) for n in names):
        print(f"The board at {board.path} has no entries from {board.scored_on}; drop --source "
              "to see all of it.")
        return 0
    if not names:
        print(f"The board at {board.path} has no entries yet.")
    print("\n\n".join(board.table(n) for n in names))
    return 0


def _render(args: argparse.Namespace) -> int:
    from wemd.leaderboard import render

    for path in render(args.outdir, _board(args)):
        print(path)
    return 0


def _schema(args: argparse.Namespace) -> int:
    from wemd.leaderboard import SCHEMA

    print(json.dumps(SCHEMA, indent=2))
    return 0


def _serve(args: argparse.Namespace) -> int:
    _needs("fastapi", "uvicorn", "sqlalchemy")
    from wemd.leaderboard.server.serve import serve

    if args.workers < 0:
        raise WEMDError("--workers must be 0 (no scoring here) or more.")
    cfg = _config(args, upload_cap=args.upload_cap_mb * MiB, model_cap=args.model_cap_mb * MiB,
                  model_timeout=args.model_timeout, model_memory=args.model_memory_mb * MiB,
                  rate=args.rate)
    print(f"wemd leaderboard: http://{args.host}:{args.port}/ ({args.workers} workers, data "
          f"{describe_source(args.source)}, store {cfg.data})", flush=True)
    serve(cfg, args.host, args.port, args.workers)
    return 0


def _config(args: argparse.Namespace, **limits: Any) -> Any:
    """The board's Config from --db, --data, --source and --root (and ``limits``)."""
    from wemd.leaderboard.server.scoring import Config

    data = Path(args.data) if args.data else _default_data(args.db)
    return Config(db=args.db, data=data.resolve(), source=args.source, root=args.root, **limits)


def _rescore(args: argparse.Namespace) -> int:
    _needs("sqlalchemy")
    from wemd.leaderboard.server.rescore import rescore

    if bool(args.entries) == args.all:
        raise WEMDError("Name the entries to score again, or --all (not both).")
    counts = {"changed": 0, "failed": 0, "unchanged": 0, "skipped": 0}
    for res in rescore(_config(args), None if args.all else args.entries, write=args.write):
        print(res.line(), flush=True)
        counts["skipped" if res.skipped else "failed" if res.error else
               "changed" if res.changes else "unchanged"] += 1
    print(", ".join(f"{v} {k}" for k, v in counts.items())
          + ("" if args.write or not counts["changed"] else "; --write stores the new scores"))
    return 0


def _default_data(db_url: str) -> Path:
    """Uploads beside an SQLite file (``board.sqlite`` -> ``board.sqlite.data``)."""
    if db_url.startswith("sqlite:///") and len(db_url) > len("sqlite:///"):
        return Path(db_url[len("sqlite:///"):] + ".data")
    return Path("wemd-board-data")


def _token(args: argparse.Namespace) -> int:
    _needs("sqlalchemy")
    from wemd.leaderboard.server import db, tokens

    engine = db.connect(args.db)
    if args.token_command == "create":
        print(tokens.create(engine, args.name))
        print(f"(the token of {args.name!r}; it is stored hashed and cannot be shown again)")
    elif args.token_command == "revoke":
        tokens.revoke(engine, args.name)
        print(f"revoked: {args.name}")
    else:
        def when(t: float) -> str:
            return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))

        for t in tokens.listing(engine):
            print(f"{t['name']}\tcreated {when(t['created'])}\t"
                  + (f"revoked {when(t['revoked'])}" if t["revoked"] else "active"))
    return 0


def _export(args: argparse.Namespace) -> int:
    _needs("httpx")
    from wemd.leaderboard.server.interop import export_board

    written, skipped = export_board(args.server, args.out)
    print(f"{written} records written to {args.out}" + (f", {skipped} already there" if skipped else ""))
    return 0


def _import(args: argparse.Namespace) -> int:
    _needs("sqlalchemy")
    from wemd.leaderboard.server.interop import import_records

    added, skipped = import_records(args.db, args.folder)
    print(f"{added} records imported as self-reported" + (f", {skipped} already there" if skipped else ""))
    return 0
