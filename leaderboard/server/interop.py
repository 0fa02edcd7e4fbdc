"""Between a board server and board folders: ``export`` writes a server's entries as record
files (each keeping its verification level), ``import`` loads records into a server's database
as self-reported entries, whatever level a file claims."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Union

import sqlalchemy as sa

from wemd.errors import WEMDError

from wemd.leaderboard.board import Board, DuplicateEntryError, entry_id, record_task
from wemd.leaderboard.records import read_record
from wemd.leaderboard.server import db
from wemd.leaderboard.server.scoring import SELF_REPORTED

#: Keys a server adds to a record when it lists it (not part of the record itself).
_LISTING_KEYS = ("entry_id", "submission_id", "verification")


def export_board(server: str, out: Union[str, Path]) -> tuple[int, int]:
    """Write every entry of ``server`` into the board folder ``out``; (written, already there)."""
    from wemd.leaderboard.server.client import Client

    board, written, skipped = Board(out), 0, 0
    with Client(server) as client:
        listed = client.entries()
    for rec in listed:
        record = {k: v for k, v in rec.items() if k not in ("entry_id", "submission_id")}
        try:
            board.submit(record, check=False)
            written += 1
        except DuplicateEntryError:
            skipped += 1
    return written, skipped


def _records(folder: Path) -> list[dict[str, Any]]:
    """Every record of a board folder or a folder of ``*.json`` records, all read and checked
    before anything is imported; a bad file is named."""
    if (folder / "entries").is_dir():
        return list(Board(folder).entries())
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            records.append(read_record(path))
        except WEMDError as exc:
            raise WEMDError(f"{path}: {exc}; fix or remove that file (nothing was imported).") from exc
    return records


def import_records(db_url: str, folder: Union[str, Path]) -> tuple[int, int]:
    """Add the records of a board folder (or a folder of ``*.json`` records) to the database at
    ``db_url`` as self-reported entries, all or none; (added, already there)."""
    engine = db.connect(db_url)
    rows = []
    for rec in _records(Path(folder)):
        record = {k: v for k, v in rec.items() if k not in _LISTING_KEYS}
        rows.append((record_task(record), entry_id(record), record))
    added = skipped = 0
    with engine.begin() as conn:  # one transaction: a failure leaves the database as it was
        for task, eid, record in rows:
            if conn.execute(sa.select(db.entries.c.id).where(db.entries.c.id == eid)).first():
                skipped += 1
                continue
            conn.execute(db.entries.insert().values(id=eid, submission_id=None, task=task.name,
                                                    verification=SELF_REPORTED, record=record,
                                                    created=time.time()))
            db.log(conn, "import", detail=f"{task.name} {record['method']['name']} {eid}")
            added += 1
    return added, skipped
