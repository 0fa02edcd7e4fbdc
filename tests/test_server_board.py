"""The board server end to end (issue 13): a real ``wemd leaderboard serve`` process on
127.0.0.1 scores uploaded predictions on its own data with the evaluator of ``wemd evaluate``,
survives restarts and kill -9 without losing work, and exports / imports record folders."""

import json
import os
import signal
import time

import numpy as np
import pytest
import sqlalchemy as sa

from tests.server_fixtures import (N, PARAMS, TASK, Server, board_home, queue_files,  # noqa: F401
                                   worker_pids, write_predictions)
from wemd.cli import main
from wemd.leaderboard import Board, Client, evaluate
from wemd.leaderboard.server import db
from wemd.leaderboard.server.client import ServerError
from wemd.leaderboard.server.scoring import SCORED, SELF_REPORTED


@pytest.fixture(scope="module")
def server(board_home, tmp_path_factory):
    base = tmp_path_factory.mktemp("board")
    srv = Server(f"sqlite:///{base / 'board.sqlite'}", base / "data", board_home[0]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with Client(server.url, token=server.token("alice")) as c:
        yield c


def test_predictions_are_scored_on_the_servers_data_like_wemd_evaluate(server, client, board_home,
                                                                       tmp_path):
    root, targets = board_home
    preds = write_predictions(tmp_path / "p.npz", np.clip(targets + 0.05, 0, 1).astype(np.float32))
    ans = client.submit(TASK, preds, method="shifted", n=N, params=PARAMS)
    assert ans["status"] == "queued"
    final = client.wait(ans["id"], timeout=60)
    assert final["status"] == "done" and final["reason"] is None, final
    local = evaluate(TASK, preds, root=root, n=N, progress=False, **PARAMS)
    [entry] = [e for e in client.entries(TASK) if e["entry_id"] == final["entry_id"]]
    assert entry["verification"] == SCORED
    assert entry["data"]["provenance"] == "subset"  # the server's data, not a client's claim
    assert entry["data"]["instances_fingerprint"] == local.instances_fingerprint
    assert entry["metrics"]["mse_x1000"]["mean"] == pytest.approx(local.metrics["mse_x1000"]["mean"])
    assert entry["predictions_sha256"] == local.predictions_sha256
    assert entry["data"]["standard"] is False  # small crops: shown as non-standard


def test_cli_submit_status_and_show(server, client, board_home, tmp_path, capsys):
    preds = write_predictions(tmp_path / "p.npz", board_home[1].astype(np.float32))
    token = server.token("cli-user")
    assert main(["leaderboard", "submit", TASK, str(preds), "--server", server.url, "--token", token,
                 "--method", "perfect <b>&", "--n", str(N), "--param", "crop=32", "--wait"]) == 0
    out = capsys.readouterr().out
    sid = out.split()[1].rstrip(":")
    assert "done" in out
    assert main(["leaderboard", "status", sid, "--server", server.url]) == 0
    assert f"{sid}: done" in capsys.readouterr().out
    assert main(["leaderboard", "show", TASK, "--server", server.url]) == 0
    shown = capsys.readouterr().out
    assert "perfect <b>&" in shown and SCORED in shown and "Subsets of the real data" in shown
    again = client.submit(TASK, preds, method="perfect <b>&", n=N, params=PARAMS)
    final = client.wait(again["id"], timeout=60)
    assert final["status"] == "failed" and "Duplicate" in final["reason"]


def test_learned_methods_need_three_seed_files(client, board_home, tmp_path):
    files = [write_predictions(tmp_path / f"s{k}.npz", np.clip(board_home[1] + 0.01 * k, 0, 1))
             for k in range(3)]
    with pytest.raises(ServerError, match=">= 3 seeds") as err:
        client.submit(TASK, files[:2], method="net", seeds=[0, 1], n=N, params=PARAMS)
    assert err.value.status == 400
    final = client.wait(client.submit(TASK, files, method="net", seeds=[0, 1, 2], n=N,
                                      params=PARAMS)["id"], timeout=60)
    assert final["status"] == "done", final
    [entry] = [e for e in client.entries(TASK) if e["entry_id"] == final["entry_id"]]
    assert entry["method"]["kind"] == "learned" and [r["seed"] for r in entry["runs"]] == [0, 1, 2]
    assert entry["metrics"]["mse_x1000"]["over"] == "seeds"


def test_export_then_import_marks_records_self_reported(server, client, board_home, tmp_path,
                                                        capsys):
    preds = write_predictions(tmp_path / "p.npz", np.clip(board_home[1] * 0.9, 0, 1))
    assert client.wait(client.submit(TASK, preds, method="scaled", n=N, params=PARAMS)["id"],
                       timeout=60)["status"] == "done"
    out = tmp_path / "exported"
    assert main(["leaderboard", "export", "--server", server.url, str(out)]) == 0
    exported = Board(out).entries(TASK)
    assert {e["entry_id"] for e in exported} == {e["entry_id"] for e in client.entries(TASK)}
    assert {e["verification"] for e in exported} == {SCORED}
    for where in (["--board", str(out)], ["--server", server.url]):  # render works on either
        site = tmp_path / "site" / where[0].strip("-")
        assert main(["leaderboard", "render", str(site), *where]) == 0
        assert SCORED in (site / "index.html").read_text()
    # a record file claiming the strongest level is still imported as self-reported
    claimed = json.loads(next((out / "entries" / TASK).glob("*.json")).read_text())
    claimed["verification"] = "model re-run on server"
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "claimed.json").write_text(json.dumps(claimed))
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    assert main(["leaderboard", "import", str(folder), "--db", other]) == 0
    assert main(["leaderboard", "import", str(folder), "--db", other]) == 0
    assert "1 already there" in capsys.readouterr().out
    with db.connect(other).connect() as conn:
        assert conn.execute(sa.select(db.entries.c.verification)).scalars().all() == [SELF_REPORTED]
    assert main(["leaderboard", "rescore", "--all", "--db", other, "--root", str(board_home[0]),
                 "--data", str(tmp_path / "other-data")]) == 0  # no uploads: nothing to score
    assert "skipped (an imported record" in capsys.readouterr().out
    # a bad file among good ones: named, and nothing of the folder is imported
    (folder / "b.json").write_text('{"x": 1}')
    (folder / "c.json").write_text(json.dumps({**claimed, "method": {**claimed["method"],
                                                                     "name": "another"}}))
    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    assert main(["leaderboard", "import", str(folder), "--db", fresh]) == 1
    assert "b.json" in capsys.readouterr().err
    with db.connect(fresh).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.entries)).scalar_one() == 0


def test_rescore_reports_and_repairs_entries_from_their_stored_uploads(server, client, board_home,
                                                                       tmp_path, capsys):
    """An entry whose stored scores no longer match its upload (as after an evaluator change)
    is reported by `rescore`, stored anew with --write, and then reported unchanged."""
    sid = queue_files(client, board_home[1], tmp_path, 1, "rescored")[0]
    eid = client.wait(sid, timeout=60)["entry_id"]
    engine = db.connect(server.db_url)
    e = db.entries
    with engine.begin() as conn:
        record = conn.execute(sa.select(e.c.record).where(e.c.id == eid)).scalar_one()
        true_mse = record["metrics"]["mse_x1000"]["mean"]
        record["metrics"]["mse_x1000"]["mean"] = 0.0  # a score an older evaluator got wrong
        conn.execute(e.update().where(e.c.id == eid).values(record=record))
    args = ["leaderboard", "rescore", eid, "--db", server.db_url, "--root", str(board_home[0]),
            "--data", str(server.data)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{eid} {TASK} 'rescored-0': changed mse_x1000 0.0 -> " in out and "1 changed" in out
    assert main(args + ["--write"]) == 0 and main(args) == 0
    assert "unchanged" in capsys.readouterr().out.splitlines()[-2]
    with engine.connect() as conn:
        fixed = conn.execute(sa.select(e.c.record).where(e.c.id == eid)).scalar_one()
        assert conn.execute(sa.select(db.audit).where(db.audit.c.action == "rescored")).first()
    assert fixed["metrics"]["mse_x1000"]["mean"] == pytest.approx(true_mse)
    assert main(args[:2] + ["nope"] + args[3:]) == 1
    assert "No entry 'nope' on this board" in capsys.readouterr().err


def test_queued_and_interrupted_work_survives_a_kill_9(board_home, tmp_path):
    """Jobs queued while no worker runs, one left 'scoring' by a dead worker, and one that
    was interrupted too often: after kill -9 and a restart, each ends done or failed(reason)."""
    url = f"sqlite:///{tmp_path / 'b.sqlite'}"
    srv = Server(url, tmp_path / "data", board_home[0], workers=0).start()
    try:
        with Client(srv.url, token=srv.token("bob")) as c:
            ids = queue_files(c, board_home[1], tmp_path, 3, "m")
    finally:
        srv.stop(signal.SIGKILL)
    engine = db.connect(url)
    assert db.claim(engine, "a-worker-that-died")["id"] == ids[0]
    with engine.begin() as conn:  # the third was interrupted MAX_ATTEMPTS times already
        conn.execute(db.submissions.update().where(db.submissions.c.id == ids[2])
                     .values(status="scoring", attempts=db.MAX_ATTEMPTS))
    srv = Server(url, tmp_path / "data", board_home[0]).start()
    try:
        with Client(srv.url) as c:
            final = [c.wait(i, timeout=60) for i in ids]
    finally:
        srv.stop()
    assert [f["status"] for f in final] == ["done", "done", "failed"]
    assert final[0]["attempts"] == 2 and "interrupted" in final[2]["reason"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_worker_outlives_its_server(board_home, tmp_path, sig):
    """Only the server's own process is signalled: on SIGTERM it stops its workers; after
    kill -9 they notice and stop themselves."""
    srv = Server(f"sqlite:///{tmp_path / 'b.sqlite'}", tmp_path / "data", board_home[0],
                 workers=2).start()
    try:
        pids = worker_pids(srv.proc.pid)
        assert len(pids) == 2
        os.kill(srv.proc.pid, sig)
        srv.proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(os.path.exists(f"/proc/{p}") and "Z" not in open(f"/proc/{p}/stat").read().split()[2]
                  for p in pids):
            assert time.monotonic() < deadline, "a worker outlived its server"
            time.sleep(0.2)
    finally:
        srv.stop(signal.SIGKILL)
    if sig == signal.SIGTERM:  # workers share no semaphores with the server: none leaked
        assert "leaked semaphore" not in srv.log.read_text()


def test_a_restart_removes_the_partial_files_a_killed_board_left(board_home, tmp_path):
    """Uploads, job folders and input sets cut short by kill -9 are removed when the board
    starts again; blobs and finished cached inputs stay."""
    data = tmp_path / "data"
    left = [data / "tmp" / "upload-x.part", data / "tmp" / "job-x" / "inputs.npz",
            data / "inputs" / ".wemd-inputs-x" / "noisy.npy", data / "inputs" / ".k.npz.x.part"]
    kept = [data / "inputs" / "k.npz", data / "blobs" / "ab" / ("ab" * 32)]
    for path in left + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    srv = Server(f"sqlite:///{tmp_path / 'b.sqlite'}", data, board_home[0], workers=0).start()
    srv.stop()
    assert [p for p in left if p.exists()] == [] and all(p.exists() for p in kept)
    assert sorted(os.listdir(data / "tmp")) == []
