"""The board server on a real PostgreSQL server (issue 13): submissions scored by two workers,
restart requeues, and jobs claimed once each under concurrency (PostgreSQL: FOR UPDATE SKIP
LOCKED; SQLite: a conditional UPDATE)."""

import signal
import threading

import pytest
import sqlalchemy as sa

from tests.server_fixtures import (TASK, Server, board_home, postgres_url,  # noqa: F401
                                   queue_files)
from wemd.cli import main
from wemd.leaderboard import Client
from wemd.leaderboard.server import db

@pytest.mark.slow
def test_board_on_postgresql_scores_with_two_workers_and_survives_kill_9(postgres_url, board_home,
                                                                        tmp_path, capsys):
    assert main(["leaderboard", "token", "create", "dora", "--db", postgres_url]) == 0
    token = capsys.readouterr().out.splitlines()[0]
    srv = Server(postgres_url, tmp_path / "data", board_home[0], workers=0).start()
    try:
        with Client(srv.url, token=token) as c:
            ids = queue_files(c, board_home[1], tmp_path, 4, "pg")
    finally:
        srv.stop(signal.SIGKILL)
    engine = db.connect(postgres_url)
    assert engine.dialect.name == "postgresql"
    assert db.claim(engine, "died")["id"] == ids[0]  # left 'scoring' by a dead worker
    srv = Server(postgres_url, tmp_path / "data", board_home[0], workers=2).start()
    try:
        with Client(srv.url) as c:
            final = [c.wait(i, timeout=90) for i in ids]
            entries = c.entries(TASK)
    finally:
        srv.stop()
    assert [f["status"] for f in final] == ["done"] * 4, final
    assert sorted(e["method"]["name"] for e in entries) == [f"pg-{k}" for k in range(4)]
    with engine.connect() as conn:
        workers = conn.execute(sa.select(db.submissions.c.worker)).scalars().all()
    assert len(set(workers)) >= 1 and "died" not in workers


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_claims_take_each_job_once(backend, request, tmp_path):
    url = (request.getfixturevalue("postgres_url") if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'queue.sqlite'}")
    engine = db.connect(url)
    with engine.begin() as conn:
        conn.execute(db.submissions.delete())
        conn.execute(db.submissions.insert(), [
            {"id": f"job{k:03d}", "task": TASK, "method": "m", "kind": "classical",
             "mode": "predictions", "files": [], "seeds": [], "params": {}, "status": "queued",
             "attempts": 0, "created": float(k)} for k in range(40)])
    taken: list = []

    def claimer(name):
        while (job := db.claim(engine, name)) is not None:
            taken.append(job["id"])

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == [f"job{k:03d}" for k in range(40)]  # none lost, none twice
    with engine.begin() as conn:
        conn.execute(db.submissions.delete())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_storing_the_same_entry_at_once_fail_the_second_as_a_duplicate(
        backend, request, tmp_path):
    """Two submissions of the same predictions scored at once: the other worker stores the
    entry between this one's duplicate check and its insert; the job fails as a duplicate
    (it raised IntegrityError, and the worker died)."""
    url = (request.getfixturevalue("postgres_url") if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'race.sqlite'}")
    mine, other = db.connect(url), db.connect(url)
    job = {"task": TASK, "method": "m", "kind": "classical", "mode": "predictions", "files": [],
           "seeds": [], "params": {}, "status": "queued", "attempts": 0}
    entry = {"id": f"race-{backend}", "submission_id": None, "task": TASK,
             "verification": "x", "record": {}, "created": 0.0}
    with mine.begin() as conn:
        conn.execute(db.submissions.delete())
        conn.execute(db.entries.delete().where(db.entries.c.id == entry["id"]))
        conn.execute(db.submissions.insert(), [job | {"id": f"j{k}", "created": float(k)}
                                               for k in range(2)])
    first, second = db.claim(mine, "w1"), db.claim(other, "w2")

    raced: list = []

    @sa.event.listens_for(mine, "before_cursor_execute")
    def _the_other_worker_first(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO ENTRIES") and not raced:
            raced.append(db.finish(other, second["id"], entry=entry))

    assert db.finish(mine, first["id"], entry=entry) == "failed" and raced == ["done"]
    with mine.connect() as conn:
        reason = conn.execute(sa.select(db.submissions.c.reason).where(
            db.submissions.c.id == first["id"])).scalar_one()
    assert reason.startswith(f"Duplicate: entry {entry['id']}")
    with mine.begin() as conn:
        conn.execute(db.submissions.delete())
