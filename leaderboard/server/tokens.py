"""Bearer tokens: created by the host, shown once, stored as a SHA-256 hash, revocable.

A token is 32 random bytes (``secrets.token_urlsafe``), so a plain SHA-256 of it cannot be
guessed back; it is looked up by hash and compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa

from wemd.errors import WEMDError
from wemd.files import safe_filename
from wemd.leaderboard.server.db import tokens

PREFIX = "wemd_"


class TokenError(WEMDError):
    """A missing, unknown or revoked token; ``status`` is the HTTP answer (401 or 403)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Account:
    id: int
    name: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create(engine: sa.Engine, name: str) -> str:
    """A new token for ``name`` (a short, printable name); return it: it is never shown again."""
    safe_filename(name, "token name")
    if len(name) > 100:
        raise WEMDError(f"Token name {name[:20]!r}... is too long (100 characters at most).")
    token = PREFIX + secrets.token_urlsafe(32)
    try:
        with engine.begin() as conn:
            # a revoked token keeps its row (the audit log refers to it) under a new name, so
            # the name can be given a new token
            conn.execute(tokens.update().where(tokens.c.name == name, tokens.c.revoked.isnot(None))
                         .values(name=name + " (revoked " + sa.cast(tokens.c.id, sa.String) + ")"))
            conn.execute(tokens.insert().values(name=name, token_hash=_hash(token),
                                                created=time.time()))
    except sa.exc.IntegrityError:
        raise WEMDError(f"A token named {name!r} exists already; revoke it "
                        f"(`wemd leaderboard token revoke {name}`) or choose another name.") from None
    return token


def revoke(engine: sa.Engine, name: str) -> None:
    with engine.begin() as conn:
        done = conn.execute(tokens.update().where(tokens.c.name == name, tokens.c.revoked.is_(None))
                            .values(revoked=time.time())).rowcount
    if not done:
        raise WEMDError(f"No active token named {name!r} (see `wemd leaderboard token list`).")


def listing(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(tokens.c.name, tokens.c.created, tokens.c.revoked)
                            .order_by(tokens.c.id)).mappings().all()
    return [dict(r) for r in rows]


def authenticate(engine: sa.Engine, header: Optional[str]) -> Account:
    """The account of an ``Authorization: Bearer T`` header, or TokenError (401/403)."""
    if not header or not header.startswith("Bearer ") or not header[7:].strip():
        raise TokenError(401, "No token: send 'Authorization: Bearer TOKEN' (`--token T`); the "
                              "board's host creates tokens with `wemd leaderboard token create`.")
    given = _hash(header[7:].strip())
    with engine.connect() as conn:
        row = conn.execute(sa.select(tokens).where(tokens.c.token_hash == given)).mappings().first()
    if row is None or not hmac.compare_digest(row["token_hash"], given):
        raise TokenError(401, "Unknown token: check --token, or ask the board's host for one.")
    if row["revoked"] is not None:
        raise TokenError(403, f"The token of {row['name']!r} was revoked; ask the board's host "
                              "for a new one.")
    return Account(row["id"], row["name"])
