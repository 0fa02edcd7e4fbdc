"""Hostile uploads and callers against a real board server (issue 13): each is refused or
fails with a reason naming the problem, nothing half-written is kept, the server stays up."""

import io
import zipfile
import zlib

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

from tests.server_fixtures import N, PARAMS, TASK, Server, board_home, write_predictions  # noqa: F401
from wemd.cli import main
from wemd.leaderboard import Client
from wemd.leaderboard.server import db
from wemd.leaderboard.server.client import ServerError

RATE = 12


@pytest.fixture(scope="module")
def server(board_home, tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile-board")
    srv = Server(f"sqlite:///{base / 'board.sqlite'}", base / "data", board_home[0],
                 "--upload-cap-mb", "1", "--rate", str(RATE)).start()
    yield srv
    srv.stop()


def bomb(path):
    """An .npz whose compressed member claims 4x32x32 floats but inflates to 400 MB."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f4", "fortran_order": False,
                                                "shape": (N, 32, 32)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("predictions.npy", "w", force_zip64=True) as fh:
        fh.write(head.getvalue())
        zeros = bytes(1 << 20)
        for _ in range(400):
            fh.write(zeros)
    return path


def cases(targets, tmp):
    good = targets.astype(np.float32)
    assert good.shape == (N, 32, 32)
    nan = good.copy()
    nan[1, 3, 3] = np.nan
    return {
        "non-finite": write_predictions(tmp / "nan.npz", nan),
        "dtype": write_predictions(tmp / "int.npz", (good * 100).astype(np.int32)),
        "shape": write_predictions(tmp / "shape.npz", good[:, :16, :16]),
        "Got 3 predictions": write_predictions(tmp / "count.npz", good[:3]),
        "instance_ids differ": write_predictions(tmp / "ids.npz", good,
                                                 instance_ids=np.array([f"{i}:x" for i in range(N)])),
        "dtype object": write_predictions(tmp / "pickle.npz", good.astype(object)),  # pickled
        "declares": bomb(tmp / "bomb.npz"),
        "not an .npz": tmp / "junk.npz",
    }


def test_hostile_prediction_files_fail_with_a_reason_and_the_server_stays_up(server, board_home,
                                                                             tmp_path):
    files = cases(board_home[1], tmp_path)
    files["not an .npz"].write_bytes(b"<html>not predictions</html>" * 10)
    submitted = {}
    for k, (why, path) in enumerate(files.items()):
        with Client(server.url, token=server.token(f"hostile-{k}")) as c:
            submitted[why] = c.submit(TASK, path, method=f"hostile {k}", n=N, params=PARAMS)["id"]
    with Client(server.url) as c:
        final = {why: c.wait(sid, timeout=60) for why, sid in submitted.items()}
        for why, ans in final.items():
            assert ans["status"] == "failed" and why in ans["reason"], (why, ans)
            assert "Expected:" in ans["reason"] or why == "declares"
        assert c.entries(TASK) == []  # nothing half-written
        assert len(c.tasks()["tasks"]) > 10  # still serving


def test_tokens_are_needed_checked_and_revocable(server, tmp_path, capsys):
    data = tmp_path / "x.npy"
    np.save(data, np.zeros(3, np.float32))
    with pytest.raises(ServerError, match="No token") as err:
        Client(server.url).upload(data)
    assert err.value.status == 401
    with pytest.raises(ServerError, match="Unknown token") as err:
        Client(server.url, token="wemd_guessed").upload(data)
    assert err.value.status == 401
    assert main(["leaderboard", "token", "create", "carol", "--db", server.db_url]) == 0
    token = capsys.readouterr().out.splitlines()[0]
    with db.connect(server.db_url).connect() as conn:  # stored hashed: the token is nowhere
        stored = conn.execute(sa.select(db.tokens)).all()
    assert token.startswith("wemd_") and token not in repr(stored)
    with Client(server.url, token=token) as c:
        assert len(c.upload(data)) == 64
        assert main(["leaderboard", "token", "revoke", "carol", "--db", server.db_url]) == 0
        with pytest.raises(ServerError, match="revoked") as err:
            c.upload(data)
        assert err.value.status == 403
    assert main(["leaderboard", "token", "create", "carol", "--db", server.db_url]) == 0  # reissued
    fresh = capsys.readouterr().out.splitlines()[-2]
    assert len(Client(server.url, token=fresh).upload(data)) == 64
    with pytest.raises(ServerError, match="revoked"):
        Client(server.url, token=token).upload(data)
    assert main(["leaderboard", "token", "list", "--db", server.db_url]) == 0
    listed = capsys.readouterr().out
    assert "carol (revoked" in listed and "UTC" in listed
    with db.connect(server.db_url).connect() as conn:
        actions = conn.execute(sa.select(db.audit.c.action)).scalars().all()
    assert {"upload", "stored", "refused"} <= set(actions)


def test_rate_limit_answers_429_per_token(server, tmp_path):
    data = tmp_path / "x.npy"
    np.save(data, np.zeros(3, np.float32))
    with Client(server.url, token=server.token("eager")) as c:
        for _ in range(RATE):
            c.upload(data)
        with pytest.raises(ServerError, match="Rate limit") as err:
            c.upload(data)
        assert err.value.status == 429
    with Client(server.url, token=server.token("patient")) as other:  # another token is not held up
        other.upload(data)


def test_oversize_uploads_are_refused_while_streaming(server, tmp_path):
    big = tmp_path / "big.npy"
    np.save(big, np.zeros((2, 1 << 18), np.float32))  # 2 MiB, cap 1 MiB
    token = server.token("big")
    with pytest.raises(ServerError, match="cap") as err:
        Client(server.url, token=token).upload(big)
    assert err.value.status == 413

    def endless():  # no Content-Length: the cap is enforced on the stream itself
        for _ in range(64):
            yield bytes(64 << 10)

    resp = httpx.put(f"{server.url}/api/v1/uploads", content=endless(),
                     headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 413 and "cap" in resp.json()["error"]
    assert list((server.data / "tmp").iterdir()) == []  # no partial upload kept
    assert not any(p.stat().st_size > 1 << 20 for p in (server.data / "blobs").rglob("*") if p.is_file())


@pytest.mark.parametrize("change, why", [
    ({"task": "no_such_task"}, "Unknown task"),
    ({"files": ["../" * 20 + "etc/passwd"]}, "not a sha256"),
    ({"files": ["0" * 64]}, "is not on this board"),
    ({"method": "a\nb"}, "printable"),
    ({"method": "gpj.\u202eexe"}, "printable"),  # a right-to-left override spoofs the name
    ({"params": {"dose_bins": ["a", [1]]}}, "list of finite numbers"),
    ({"params": {"crop": "huge"}}, "Task"),
    ({"seeds": [0, 1]}, "seeds must be"),
    ({"n": -3}, "positive integer"),
    ({"n": 10 ** 9}, "more than the 20000 instances"),
    ({"kind": "learned"}, ">= 3 seeds"),
])
def test_malformed_submissions_are_refused_with_400(server, board_home, tmp_path, change, why):
    token = server.token(f"bad-{zlib.crc32(repr(change).encode())}")
    with Client(server.url, token=token) as c:
        sha = c.upload(write_predictions(tmp_path / "p.npz", board_home[1]))
        body = {"task": TASK, "method": "m", "files": [sha], "n": N, "params": PARAMS} | change
        resp = httpx.post(f"{server.url}/api/v1/submissions", json=body,
                          headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 400 and why in resp.json()["error"], resp.text


def test_oversize_and_deeply_nested_submission_bodies_are_refused(server):
    headers = {"Authorization": f"Bearer {server.token('json')}", "Content-Type": "application/json"}
    big = httpx.post(f"{server.url}/api/v1/submissions", headers=headers,
                     content=b'{"task": "' + b"x" * (1 << 20) + b'"}')
    assert big.status_code == 413 and "small JSON object" in big.json()["error"]
    deep = httpx.post(f"{server.url}/api/v1/submissions", headers=headers,
                      content=b"[" * 30000 + b"]" * 30000)
    assert deep.status_code == 400 and "JSON object" in deep.json()["error"]


def test_a_submission_may_name_only_uploads_of_its_own_token(server, board_home, tmp_path):
    """Statuses list uploads by sha256; another token cannot submit them as its own."""
    preds = write_predictions(tmp_path / "p.npz", board_home[1].astype(np.float32))
    with Client(server.url, token=server.token("owner")) as alice:
        sha = alice.upload(preds)
    token = server.token("copier")
    body = {"task": TASK, "method": "copied", "files": [sha], "n": N, "params": PARAMS}
    resp = httpx.post(f"{server.url}/api/v1/submissions", json=body,
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403 and "not sent with your token" in resp.json()["error"]
    with db.connect(server.db_url).connect() as conn:
        assert not conn.execute(sa.select(db.submissions).where(
            db.submissions.c.method == "copied")).first()  # nothing queued
    with Client(server.url, token=token) as bob:  # sending the same bytes oneself is fine
        assert bob.upload(preds) == sha
        assert bob.submit(TASK, preds, method="copied", n=N, params=PARAMS)["status"] == "queued"


def test_ids_from_the_user_stay_inside_their_url_segment(server):
    with Client(server.url) as c:
        for hostile in ("../entries", "../../tasks", "x?y#z"):
            with pytest.raises(ServerError, match="404") as err:
                c.status(hostile)
            assert err.value.status == 404
        with pytest.raises(ServerError, match="404"):  # not the listing of every entry
            c.entries("../../entries")


def test_guessing_tokens_is_held_up_per_address(server):
    """After RATE refused tokens a minute from one address, it is answered 429 and the audit
    log stops growing (runs last here: it holds up 127.0.0.1 for a minute)."""
    def count():
        with db.connect(server.db_url).connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(db.audit)).scalar_one()

    codes = [httpx.put(f"{server.url}/api/v1/uploads", content=b"x",
                       headers={"Authorization": f"Bearer wemd_guess{k}"}).status_code
             for k in range(RATE + 1)]
    assert 429 in codes and set(codes) <= {401, 429}
    before = count()
    again = httpx.put(f"{server.url}/api/v1/uploads", content=b"x",
                      headers={"Authorization": "Bearer wemd_guess"})
    assert again.status_code == 429 and "Too many refused tokens" in again.json()["error"]
    assert count() == before


@pytest.fixture()
def not_a_board(tmp_path):
    """A real web server on 127.0.0.1 that is no board: a static site whose /api/v1/tasks is an
    HTML page and whose errors are a JSON list."""
    import functools
    import http.server
    import threading

    (tmp_path / "api" / "v1").mkdir(parents=True)
    (tmp_path / "api" / "v1" / "tasks").write_text("<html><body>docs</body></html>")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def send_error(self, code, message=None, explain=None):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'["not", "a", "board"]')

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(tmp_path)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_server_that_is_no_board_is_named_as_such(not_a_board):
    with Client(not_a_board) as c:
        with pytest.raises(ServerError, match="not JSON.*check --server"):
            c.tasks()
        with pytest.raises(ServerError, match="answered 404"):
            c.status("abc")
