"""A real board server for the tests: ``wemd leaderboard serve`` in a subprocess on 127.0.0.1.

``board_home`` is a data home with fake ``tem_full`` test items in the real layout (scored with
small crops, a non-standard protocol); ``Server`` starts the CLI on a free port with its own
SQLite file (or a PostgreSQL URL), waits until it answers, and stops it (SIGTERM, or kill -9).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.test_leaderboard_data import make_structured
from wemd.leaderboard import get_task
from wemd.leaderboard.server import db, tokens

TASK, PARAMS, N = "tem_denoise_low_dose", {"crop": 32}, 4
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def board_home(tmp_path_factory):
    """(data home, the targets of the first N instances) of fake tem_full test data."""
    root = tmp_path_factory.mktemp("board-home")
    make_structured("tem_full", root, {"test": 3})
    task = get_task(TASK, **PARAMS)
    ds = task.open(root=root)
    return root, np.stack([inst.target for inst in task.instances(ds, N)])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``wemd leaderboard serve`` as a process; ``url`` once it answers."""

    def __init__(self, db_url: str, data: Path, root: Path, *extra: str, workers: int = 1):
        self.db_url, self.data, self.root = db_url, Path(data), Path(root)
        self.extra, self.workers = list(extra), workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log = self.data.parent / f"server-{self.port}.log"

    def start(self) -> "Server":
        cmd = [sys.executable, "-m", "wemd", "leaderboard", "serve", "--db", self.db_url,
               "--port", str(self.port), "--root", str(self.root), "--data", str(self.data),
               "--workers", str(self.workers), *self.extra]
        env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server ended: {self.log.read_text()[-3000:]}")
            try:
                httpx.get(self.url + "/api/v1/tasks", timeout=2)
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not answer: {self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server and its workers (its own process group)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if sig == signal.SIGTERM:  # the workers are the server's children: none may stay
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def token(self, name: str) -> str:
        return tokens.create(db.connect(self.db_url), name)


def write_predictions(path: Path, predictions: np.ndarray, **extra) -> Path:
    np.savez(path, predictions=predictions, **extra)
    return path


PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


@pytest.fixture(scope="module")
def postgres_url():
    """A real PostgreSQL server in a temporary folder on a free port of 127.0.0.1 (Debian's
    binaries; as root, run as the ``postgres`` system user, since initdb refuses root);
    yields the URL of an empty database and stops the server at the end."""
    import pwd
    import shutil
    import tempfile

    if not PG_BIN:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does)")
    bindir = PG_BIN[-1].parent
    as_user: list = []
    folder = Path(tempfile.mkdtemp(prefix="wemd-pg-"))
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a 'postgres' system user for initdb")
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    ctl = as_user + [str(bindir / "pg_ctl"), "-D", str(folder / "data")]
    try:
        subprocess.run(as_user + [str(bindir / "initdb"), "-D", str(folder / "data"), "-U",
                                  "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run(ctl + ["-l", str(folder / "log"), "-w", "start", "-o",
                              f"-c listen_addresses=127.0.0.1 -p {port} "
                              "-c unix_socket_directories='' -c fsync=off"],
                       check=True, capture_output=True)
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE DATABASE wemd")
        yield f"postgresql://postgres@127.0.0.1:{port}/wemd"
    finally:
        subprocess.run(ctl + ["-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
