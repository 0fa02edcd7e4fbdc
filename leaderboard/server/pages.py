"""The board's pages and entry listings from the database: ``/``, one page per task, plots.

Tables come from :mod:`wemd.leaderboard.render` (sortable, every field escaped, real / subset /
synthetic apart) with a verification column; plots are drawn by its plot functions into a cache
folder named by the entries they show, so a page is redrawn only when its entries change.
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path
from typing import Any, Optional

import sqlalchemy as sa

from wemd.leaderboard import references as refs
from wemd.leaderboard.board import NON_STANDARD, RecordsBoard
from wemd.leaderboard.render import bar_plot, group_plot, html_page, html_tables
from wemd.leaderboard.server import db
from wemd.leaderboard.server.scoring import LEVELS, Config
from wemd.leaderboard.tasks import Task, tasks


def entries(engine: sa.Engine, task: Optional[str] = None) -> list[dict[str, Any]]:
    """Every entry (of one task) as its record with ``entry_id`` and ``verification``."""
    q = sa.select(db.entries.c.id, db.entries.c.verification, db.entries.c.record,
                  db.entries.c.submission_id).order_by(db.entries.c.created)
    if task is not None:
        q = q.where(db.entries.c.task == task)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [dict(rec) | {"entry_id": eid, "verification": level, "submission_id": sid}
            for eid, level, rec, sid in rows]


def index(engine: sa.Engine, cfg: Config) -> str:
    with engine.connect() as conn:
        counts = dict(conn.execute(sa.select(db.entries.c.task, sa.func.count())
                                   .group_by(db.entries.c.task)).all())
    rows = "".join(f'<tr><td data-v=""><a href="/tasks/{html.escape(t.name)}">{html.escape(t.name)}'
                   f'</a></td><td data-v="">{html.escape(t.title)}</td>'
                   f'<td data-v="{counts.get(t.name, 0)}">{counts.get(t.name, 0)}</td></tr>'
                   for t in tasks().values())
    body = ["<h1>WEMD leaderboard</h1>",
            f"<p>Scores on this board are computed by this server on its own data (source "
            f"<code>{html.escape(cfg.source)}</code>). Verification levels: "
            + ", ".join(f"<i>{html.escape(v)}</i>" for v in LEVELS)
            + f". Paper rows are <i>{html.escape(refs.STATUS)}</i>.</p>",
            '<table class="sortable"><thead><tr><th>task</th><th>title</th><th>entries</th></tr>'
            f"</thead><tbody>{rows}</tbody></table>"]
    return html_page("WEMD leaderboard", body)


def task_page(engine: sa.Engine, task: Task) -> str:
    board = RecordsBoard(entries(engine, task.name), "this server")
    body = ['<p><a href="/">all tasks</a></p>', f"<h1>{html.escape(task.name)}</h1>",
            f"<p>{html.escape(task.title)}. Data: <code>{html.escape(task.dataset)}/"
            f"{html.escape(task.split)}</code>, protocol {html.escape(task.protocol_version)}, "
            f"primary metric <code>{html.escape(task.primary)}</code> "
            f"({'lower' if task.lower_is_better else 'higher'} is better). † marks entries "
            f"that are {NON_STANDARD}. Click a column to sort.</p>"]
    body += html_tables(task, board) or ["<p>No entries yet.</p>"]
    if board.records:
        body += [f'<img src="/plots/{html.escape(task.name)}/{kind}.png" alt="{html.escape(kind)}">'
                 for kind in PLOTS]
    return html_page(f"{task.name} - WEMD leaderboard", body)


#: The plots of a task page: the primary metric per entry, and per group of instances.
PLOTS = {"bars": bar_plot, "groups": group_plot}


def plot(engine: sa.Engine, cfg: Config, task: Task, kind: str) -> Optional[bytes]:
    """One plot of a task's entries (``PLOTS``), drawn once per set of entries."""
    import matplotlib

    records = entries(engine, task.name)
    if not records or kind not in PLOTS:
        return None
    key = hashlib.sha256("|".join(r["entry_id"] for r in records).encode()).hexdigest()[:24]
    folder = Path(cfg.data) / "plots" / f"{key}-{kind}"
    done = sorted(folder.glob("plots/*.png"))
    if not done:
        matplotlib.use("Agg")
        with matplotlib.rc_context({"text.usetex": False}):
            drawn = PLOTS[kind](task, RecordsBoard(records, "this server"), folder)
        done = [drawn] if drawn else []
    return done[0].read_bytes() if done else None
