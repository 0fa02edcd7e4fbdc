"""Score a board's entries again from their stored uploads with the current evaluator.

Every entry made by the server keeps its submission (task, parameters, n, files by sha256), and
the uploads stay in the content-addressed store, so an entry can be scored again after the
evaluator, the metrics or the server's data change. Imported records have no uploads and are
skipped. :func:`rescore` reports what changed; with ``write=True`` it stores the new record in
the entry's row (its id kept) and notes it in the audit log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

import sqlalchemy as sa

from wemd.errors import WEMDError
from wemd.leaderboard.server import db
from wemd.leaderboard.server.scoring import Config, Scorer


@dataclass
class Rescored:
    """What scoring one entry again gave: ``changes`` maps each changed metric (or data field)
    to (stored, now); ``error`` is why it could not be scored; ``skipped`` why it was not."""

    entry_id: str
    task: str
    method: str
    changes: dict[str, tuple] = field(default_factory=dict)
    error: Optional[str] = None
    skipped: Optional[str] = None

    def line(self) -> str:
        head = f"{self.entry_id} {self.task} {self.method!r}: "
        if self.skipped:
            return head + f"skipped ({self.skipped})"
        if self.error:
            return head + f"now fails: {self.error}"
        if not self.changes:
            return head + "unchanged"
        return head + "changed " + ", ".join(f"{k} {old} -> {new}"
                                            for k, (old, new) in self.changes.items())


def _differences(old: dict, new: dict) -> dict[str, tuple]:
    """Changed metric means and data fields of two records of one entry."""
    out: dict[str, tuple] = {}
    for key in ("source", "instances_fingerprint", "n", "standard"):
        if old["data"].get(key) != new["data"].get(key):
            out[key] = (old["data"].get(key), new["data"].get(key))
    for m in sorted(set(old["metrics"]) | set(new["metrics"])):
        a = (old["metrics"].get(m) or {}).get("mean")
        b = (new["metrics"].get(m) or {}).get("mean")
        if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            out[m] = (a, b)
    return out


def rescore(cfg: Config, entry_ids: Optional[Sequence[str]] = None,
            write: bool = False) -> Iterator[Rescored]:
    """Score the entries ``entry_ids`` (all when None) again on ``cfg``'s data; yield one
    :class:`Rescored` each, in the order the entries were made."""
    engine = db.connect(cfg.db, create=False)
    e, s = db.entries, db.submissions
    q = (sa.select(e.c.id.label("entry"), e.c.task.label("entry_task"), e.c.record, s)
         .select_from(e.outerjoin(s, e.c.submission_id == s.c.id)).order_by(e.c.created))
    if entry_ids is not None:
        q = q.where(e.c.id.in_(list(entry_ids)))
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    missing = sorted(set(entry_ids or ()) - {r["entry"] for r in rows})
    if missing:
        raise WEMDError(f"No entry {missing[0]!r} on this board (see `wemd leaderboard show "
                        "--server URL` or the entries of /api/v1/entries).")
    scorer = Scorer(cfg)
    for row in rows:
        old = row["record"]
        out = Rescored(row["entry"], row["entry_task"], old["method"]["name"])
        if row[s.c.id] is None:
            out.skipped = "an imported record: no uploads to score"
            yield out
            continue
        job = {c.name: row[c] for c in s.columns}
        try:
            new = scorer.score(job)
        except WEMDError as exc:
            out.error = str(exc).splitlines()[0]
            yield out
            continue
        out.changes = _differences(old, new["record"])
        if write and out.changes:
            with engine.begin() as conn:
                conn.execute(e.update().where(e.c.id == out.entry_id).values(
                    record=new["record"], verification=new["verification"]))
                db.log(conn, "rescored", submission_id=job["id"],
                       detail=out.line())
        yield out
