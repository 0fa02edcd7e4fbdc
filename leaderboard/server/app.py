"""The board's web application (FastAPI): the ``/api/v1/`` JSON API and the HTML pages.

Writes need a bearer token (``tokens``) and are rate-limited per token through the audit log;
uploads stream into the content-addressed store under a size cap; a submission is checked,
queued and answered at once (202) with its id, and worker processes score it off the request
path. Every refusal is a JSON ``{"error": ...}`` naming the problem and the fix.
"""

from __future__ import annotations

import json
import time
import unicodedata
from typing import Any, Optional

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from wemd.errors import WEMDError
from wemd.leaderboard.records import MIN_SEEDS_LEARNED
from wemd.leaderboard.server import db, pages, tokens
from wemd.leaderboard.server.scoring import Config
from wemd.leaderboard.server.store import Store, TooLarge
from wemd.leaderboard.tasks import UnknownTaskError, get_task, tasks

API = "/api/v1"
RATE_WINDOW_S = 60.0
MAX_JSON_BYTES = 64 << 10


class HTTPError(WEMDError):
    def __init__(self, status: int, message: str, headers: Optional[dict[str, str]] = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}


def create_app(cfg: Config, lifespan: Any = None) -> FastAPI:
    """The board's app; ``cfg`` says where its database, store and data are; ``lifespan`` (an
    async context manager factory) runs around serving, e.g. the scoring workers."""
    engine = db.connect(cfg.db)
    store = Store(cfg.data)
    app = FastAPI(title="wemd leaderboard", docs_url=f"{API}/docs", openapi_url=f"{API}/openapi.json",
                  redoc_url=None, lifespan=lifespan)

    @app.exception_handler(HTTPError)
    async def _http_error(request: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=exc.headers)

    def account(request: Request, action: str) -> tokens.Account:
        """The caller's account, or 401/403; then the per-token rate limit (429)."""
        remote = request.client.host if request.client else ""
        since = time.time() - RATE_WINDOW_S
        try:
            acct = tokens.authenticate(engine, request.headers.get("authorization"))
        except tokens.TokenError as exc:
            with engine.begin() as conn:  # guessing tokens, or flooding the audit log: held up
                refused = conn.execute(sa.select(sa.func.count()).select_from(db.audit).where(
                    db.audit.c.action == "refused", db.audit.c.remote == remote[:100],
                    db.audit.c.at > since)).scalar_one()
                if refused >= cfg.rate:
                    raise HTTPError(429, f"Too many refused tokens from {remote[:100]} (at most "
                                         f"{cfg.rate} a minute); check --token and retry in a "
                                         "minute.", {"Retry-After": str(int(RATE_WINDOW_S))})
                db.log(conn, "refused", detail=f"{action}: {exc}", remote=remote)
            raise HTTPError(exc.status, str(exc), {"WWW-Authenticate": "Bearer"}) from None
        with engine.begin() as conn:
            recent = conn.execute(sa.select(sa.func.count()).select_from(db.audit).where(
                db.audit.c.token_id == acct.id, db.audit.c.at > since,
                db.audit.c.action.in_(("upload", "submit")))).scalar_one()
            if recent >= cfg.rate:
                db.log(conn, "rate-limited", token_id=acct.id, detail=action, remote=remote)
                raise HTTPError(429, f"Rate limit: {cfg.rate} uploads and submissions per minute "
                                     f"per token; wait a minute and retry.",
                                {"Retry-After": str(int(RATE_WINDOW_S))})
            db.log(conn, action, token_id=acct.id, remote=remote)
        return acct

    @app.get(f"{API}/tasks")
    def list_tasks() -> dict[str, Any]:
        with engine.connect() as conn:
            counts = dict(conn.execute(sa.select(db.entries.c.task, sa.func.count())
                                       .group_by(db.entries.c.task)).all())
        return {"source": cfg.source,
                "tasks": [{"name": t.name, "title": t.title, "dataset": t.dataset, "split": t.split,
                           "metrics": list(t.metrics), "primary": t.primary,
                           "lower_is_better": t.lower_is_better, "n_default": t.n_default,
                           "protocol_version": t.protocol_version, "entries": counts.get(t.name, 0)}
                          for t in tasks().values()]}

    @app.put(f"{API}/uploads")
    async def upload(request: Request) -> dict[str, Any]:
        acct = account(request, "upload")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cfg.upload_cap:
            raise HTTPError(413, f"The upload ({declared} bytes) is larger than this board's cap "
                                 f"of {cfg.upload_cap} bytes; submit fewer instances (--n).")
        try:
            sha, size = await store.put(request.stream(), cfg.upload_cap)
        except TooLarge as exc:
            raise HTTPError(413, str(exc)) from None
        db.own_upload(engine, sha, acct.id, size)
        with engine.begin() as conn:
            db.log(conn, "stored", token_id=acct.id, detail=f"{sha} {size} bytes")
        return {"sha256": sha, "size": size}

    @app.post(f"{API}/submissions", status_code=202)
    async def submit(request: Request) -> dict[str, Any]:
        acct = account(request, "submit")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_JSON_BYTES:
                raise HTTPError(413, f"A submission is a small JSON object (at most "
                                     f"{MAX_JSON_BYTES} bytes); upload files to {API}/uploads.")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise HTTPError(400, "The submission must be a JSON object (see the Client).") from None
        job = _check_submission(body, cfg, store)
        with engine.connect() as conn:
            foreign = [sha for sha in job["files"] if not db.owns_upload(conn, sha, acct.id)]
        if foreign:
            raise HTTPError(403, f"Upload {foreign[0]} was not sent with your token: submit only "
                                 f"files you uploaded yourself (PUT them to {API}/uploads).")
        job.update(id=db.new_id(), token_id=acct.id, status="queued", attempts=0,
                   created=time.time())
        with engine.begin() as conn:
            conn.execute(db.submissions.insert().values(**job))
            db.log(conn, "queued", token_id=acct.id, submission_id=job["id"],
                   detail=f"{job['task']} {job['method']} {job['mode']} {job['files']}")
        return {"id": job["id"], "status": "queued", "url": f"{API}/submissions/{job['id']}"}

    @app.get(f"{API}/submissions/{{sid}}")
    def status(sid: str) -> dict[str, Any]:
        with engine.connect() as conn:
            row = conn.execute(sa.select(db.submissions).where(db.submissions.c.id == sid[:64])
                               ).mappings().first()
        if row is None:
            raise HTTPError(404, f"No submission {sid[:64]!r} on this board.")
        keys = ("id", "task", "method", "kind", "mode", "files", "seeds", "params", "n", "status",
                "reason", "attempts", "entry_id", "created", "started", "finished")
        return {k: row[k] for k in keys}

    @app.get(f"{API}/entries")
    def all_entries() -> list[dict[str, Any]]:
        return pages.entries(engine)

    @app.get(f"{API}/tasks/{{name}}/entries")
    def task_entries(name: str) -> list[dict[str, Any]]:
        return pages.entries(engine, _task(name).name)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return pages.index(engine, cfg)

    @app.get("/tasks/{name}", response_class=HTMLResponse)
    def task_page(name: str) -> str:
        return pages.task_page(engine, _task(name))

    @app.get("/plots/{name}/{kind}.png")
    def plot(name: str, kind: str) -> Response:
        png = pages.plot(engine, cfg, _task(name), kind)
        if png is None:
            raise HTTPError(404, f"No {kind[:20]!r} plot of {name}: plots are "
                                 f"{', '.join(pages.PLOTS)}, drawn once the task has entries.")
        return Response(png, media_type="image/png")

    return app


def _task(name: str) -> Any:
    try:
        return get_task(name)
    except UnknownTaskError as exc:
        raise HTTPError(404, str(exc)) from None


def _check_submission(body: Any, cfg: Config, store: Store) -> dict[str, Any]:
    """The queue row of a submission request, or 400 naming what is wrong with it."""
    def bad(message: str) -> HTTPError:
        return HTTPError(400, message)

    if not isinstance(body, dict):
        raise bad("The submission must be a JSON object.")
    try:
        task = get_task(str(body.get("task")))
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError("params must be an object of protocol parameters")
        for key, value in params.items():
            _check_param(key, value, task.params.get(key))
        task = task.with_params(**params) if params else task
    except (UnknownTaskError, ValueError, TypeError) as exc:
        raise bad(f"Task: {exc}") from None
    method = body.get("method")
    if (not isinstance(method, str) or not 0 < len(method) <= 200
            or any(unicodedata.category(c)[0] == "C" for c in method)):  # controls, bidi overrides
        raise bad("method must be a name of 1 to 200 printable characters (--method NAME).")
    mode = body.get("mode", "predictions")
    if mode not in ("predictions", "model"):
        raise bad("mode must be 'predictions' or 'model'.")
    files = body.get("files")
    if (not isinstance(files, list) or not 0 < len(files) <= cfg.max_files
            or len(set(map(str, files))) != len(files)):
        raise bad(f"files must list 1 to {cfg.max_files} distinct uploads (sha256), one per seed.")
    for sha in files:
        try:
            path = store.path(sha)
        except WEMDError as exc:
            raise bad(str(exc)) from None
        if not path.is_file():
            raise bad(f"Upload {sha} is not on this board; PUT it to {API}/uploads first.")
        if mode == "model" and path.stat().st_size > cfg.model_cap:
            raise HTTPError(413, f"Model {sha[:12]}... is larger than this board's model cap of "
                                 f"{cfg.model_cap} bytes.")
    kind = body.get("kind") or ("learned" if len(files) > 1 else "classical")
    if kind not in ("classical", "learned"):
        raise bad("kind must be 'classical' or 'learned'.")
    if kind == "learned" and len(files) < MIN_SEEDS_LEARNED:
        raise bad(f"A learned method needs >= {MIN_SEEDS_LEARNED} seeds: submit one file per "
                  f"training seed with --seeds (got {len(files)}).")
    seeds = body.get("seeds") or []
    if not isinstance(seeds, list) or (seeds and len(seeds) != len(files)) or not all(
            type(s) is int for s in seeds):
        raise bad(f"seeds must be {len(files)} integers, one per file, or left out.")
    n = body.get("n")
    if n is not None and (type(n) is not int or n < 1):
        raise bad("n must be a positive integer (number of instances) or left out.")
    if n is not None and task.n_default is not None and n > task.n_default:
        raise bad(f"n = {n} is more than the {task.n_default} instances of {task.name}'s protocol.")
    code_url = body.get("code_url")
    if code_url is not None and (not isinstance(code_url, str) or len(code_url) > 500):
        raise bad("code_url must be a string of at most 500 characters.")
    return {"task": get_task(str(body["task"])).name, "method": method, "kind": kind, "mode": mode,
            "files": files, "seeds": seeds, "params": params, "n": n, "code_url": code_url}


def _check_param(key: str, value: Any, default: Any) -> None:
    """A protocol parameter override must have its default's type (an int may stand for a
    float), and a positive number stays positive."""
    def kind(v: Any) -> str:
        return "number" if type(v) in (int, float) else type(v).__name__

    if default is None:
        return  # unknown names: with_params names them
    if kind(value) != kind(default) or (type(default) is int and type(value) is not int):
        raise ValueError(f"parameter {key} must be a {type(default).__name__} like its default "
                         f"{default!r}, not {str(value)[:40]!r}")
    if kind(default) == "list" and not all(kind(v) == "number" and abs(v) < float("inf")
                                           for v in value):
        raise ValueError(f"parameter {key} must be a list of finite numbers like {default!r}")
    if kind(default) == "number" and (value != value or abs(value) == float("inf")
                                      or (default > 0 and value <= 0)):
        raise ValueError(f"parameter {key} must be a positive finite number, not {value!r}")
