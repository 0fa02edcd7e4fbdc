"""The board's database: tokens, the submission queue, entries and the audit log (SQLAlchemy Core).

One schema for SQLite (the default: a file beside the host's data) and PostgreSQL (``postgresql://``
URLs are driven by psycopg 3). The queue is the ``submissions`` table: a job is claimed atomically
(PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite: a conditional ``UPDATE`` that only one
writer can win), and an entry is stored in the same transaction that marks its job done, so a
crash leaves a job either queued, scoring (put back by :func:`requeue_stale`) or finished.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Optional

import sqlalchemy as sa

from wemd.errors import WEMDError, require

#: A job interrupted this many times (server killed, worker crashed) is failed, not retried.
MAX_ATTEMPTS = 3

metadata = sa.MetaData()

tokens = sa.Table(
    "tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("revoked", sa.Float, nullable=True),
)

submissions = sa.Table(
    "submissions", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("token_id", sa.Integer, sa.ForeignKey("tokens.id"), nullable=True),
    sa.Column("task", sa.String(200), nullable=False),
    sa.Column("method", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("mode", sa.String(20), nullable=False),  # predictions | model
    sa.Column("files", sa.JSON, nullable=False),  # sha256 of each uploaded file, one per seed
    sa.Column("seeds", sa.JSON, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("n", sa.Integer, nullable=True),
    sa.Column("code_url", sa.String(500), nullable=True),
    sa.Column("status", sa.String(20), nullable=False, index=True),  # queued|scoring|done|failed
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("worker", sa.String(64), nullable=True),
    sa.Column("entry_id", sa.String(64), nullable=True),
    sa.Column("created", sa.Float, nullable=False, index=True),
    sa.Column("started", sa.Float, nullable=True),
    sa.Column("finished", sa.Float, nullable=True),
)

entries = sa.Table(
    "entries", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("submission_id", sa.String(32), nullable=True),
    sa.Column("task", sa.String(200), nullable=False, index=True),
    sa.Column("verification", sa.String(40), nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)

#: Who uploaded which blob: a submission may only name uploads its own token sent (the store is
#: shared and content-addressed, and submission statuses list their sha256 publicly).
uploads = sa.Table(
    "uploads", metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("token_id", sa.Integer, sa.ForeignKey("tokens.id"), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)

audit = sa.Table(
    "audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("token_id", sa.Integer, nullable=True, index=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("submission_id", sa.String(32), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("remote", sa.String(100), nullable=True),
)


class DatabaseURLError(WEMDError, ValueError):
    """A --db URL of a kind the board cannot use."""


def engine_url(url: str) -> str:
    """``url`` as SQLAlchemy is given it: ``postgresql://`` is driven by psycopg 3."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("sqlite://", "postgresql+psycopg://")):
        return url
    raise DatabaseURLError(f"--db {url!r}: use sqlite:///PATH (a file) or "
                           "postgresql://USER@HOST[:PORT]/DATABASE.")


def connect(url: str, create: bool = True) -> sa.Engine:
    """An engine for ``url`` with the tables created; SQLite files run in WAL mode with a busy
    timeout, so the web process and the workers can write at once."""
    real = engine_url(url)
    if real.startswith("postgresql"):
        require("psycopg", "server")
    if real.startswith("sqlite"):
        engine = sa.create_engine(real, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    else:
        engine = sa.create_engine(real, pool_pre_ping=True)
    try:
        if create:
            metadata.create_all(engine)
    except sa.exc.OperationalError as exc:
        raise DatabaseURLError(f"Cannot open the board database {url!r}: {exc.orig}") from None
    return engine


def new_id() -> str:
    return uuid.uuid4().hex


def claim(engine: sa.Engine, worker: str) -> Optional[dict[str, Any]]:
    """Take the oldest queued job for ``worker`` (status -> scoring); None when none is queued."""
    s = submissions
    now = time.time()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            row = conn.execute(sa.select(s).where(s.c.status == "queued").order_by(s.c.created)
                               .limit(1).with_for_update(skip_locked=True)).mappings().first()
            if row is None:
                return None
            conn.execute(s.update().where(s.c.id == row["id"]).values(
                status="scoring", worker=worker, attempts=s.c.attempts + 1, started=now))
            return dict(row) | {"status": "scoring", "worker": worker}
    while True:
        with engine.begin() as conn:
            row = conn.execute(sa.select(s).where(s.c.status == "queued").order_by(s.c.created)
                               .limit(1)).mappings().first()
            if row is None:
                return None
            won = conn.execute(s.update().where(s.c.id == row["id"], s.c.status == "queued").values(
                status="scoring", worker=worker, attempts=s.c.attempts + 1, started=now)).rowcount
            if won == 1:
                return dict(row) | {"status": "scoring", "worker": worker}


def finish(engine: sa.Engine, job_id: str, *, reason: Optional[str] = None,
           entry: Optional[dict[str, Any]] = None) -> str:
    """Mark a job done (storing ``entry`` in the same transaction) or failed with ``reason``;
    return the final status. A job that is no longer ``scoring`` (requeued meanwhile) is left."""
    try:
        return _finish(engine, job_id, reason, entry)
    except sa.exc.IntegrityError:
        if entry is None:
            raise
        # another worker stored the same entry between our check and insert: now a duplicate
        return _finish(engine, job_id, reason, entry)


def _finish(engine: sa.Engine, job_id: str, reason: Optional[str],
            entry: Optional[dict[str, Any]]) -> str:
    s = submissions
    with engine.begin() as conn:
        status = "failed" if entry is None else "done"
        if entry is not None:
            dup = conn.execute(sa.select(entries.c.id).where(entries.c.id == entry["id"])).first()
            if dup is not None:
                status, reason = "failed", (f"Duplicate: entry {entry['id']} already holds the same "
                                            "predictions of this method on these instances.")
            else:
                conn.execute(entries.insert().values(**entry))
        conn.execute(s.update().where(s.c.id == job_id, s.c.status == "scoring").values(
            status=status, reason=reason, finished=time.time(),
            entry_id=entry["id"] if status == "done" else None))
    return status


def requeue_stale(engine: sa.Engine, worker: Optional[str] = None) -> int:
    """Put jobs left in ``scoring`` (all, or those of ``worker``) back in the queue; jobs
    interrupted ``MAX_ATTEMPTS`` times fail with a reason. Return how many were touched."""
    s = submissions
    where = [s.c.status == "scoring"] + ([s.c.worker == worker] if worker else [])
    with engine.begin() as conn:
        failed = conn.execute(s.update().where(*where, s.c.attempts >= MAX_ATTEMPTS).values(
            status="failed", finished=time.time(),
            reason=f"Scoring was interrupted {MAX_ATTEMPTS} times (the server or its worker "
                   "stopped each time); the submission may crash or exhaust the worker. "
                   "Check it locally with `wemd evaluate`, then submit again.")).rowcount
        back = conn.execute(s.update().where(*where).values(status="queued", worker=None,
                                                             started=None)).rowcount
    return failed + back


def own_upload(engine: sa.Engine, sha: str, token_id: int, size: int) -> None:
    """Record that ``token_id`` sent blob ``sha`` (once per token and blob; a concurrent
    upload of the same bytes by the same token may have recorded it first)."""
    try:
        with engine.begin() as conn:
            if not owns_upload(conn, sha, token_id):
                conn.execute(uploads.insert().values(sha256=sha, token_id=token_id, size=size,
                                                     created=time.time()))
    except sa.exc.IntegrityError:
        pass


def owns_upload(conn: sa.Connection, sha: str, token_id: int) -> bool:
    return conn.execute(sa.select(uploads.c.sha256).where(
        uploads.c.sha256 == sha, uploads.c.token_id == token_id)).first() is not None


def log(conn: sa.Connection, action: str, *, token_id: Optional[int] = None,
        submission_id: Optional[str] = None, detail: str = "", remote: str = "") -> None:
    """One row of the audit log."""
    conn.execute(audit.insert().values(at=time.time(), token_id=token_id, action=action,
                                       submission_id=submission_id, detail=detail[:2000],
                                       remote=remote[:100]))
