"""A real board server for the tests: ``wemd leaderboard serve`` in a subprocess on 127.0.0.1.

``board_home`` is a data home with fake ``tem_full`` test items in the real layout (scored with
small crops, a non-standard protocol); ``Server`` starts the CLI on a free port with its own
SQLite file (or a PostgreSQL URL), waits until it answers, and stops it (SIGTERM, or kill -9);
``postgres_url`` is a real PostgreSQL server started for the tests.
"""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.test_leaderboard_data import make_structured
from wemd.leaderboard import get_task
from wemd.leaderboard.server import db, tokens
from wemd.leaderboard.server.process import BoardProcess, free_port

TASK, PARAMS, N = "tem_denoise_low_dose", {"crop": 32}, 4


@pytest.fixture(scope="session")
def board_home(tmp_path_factory):
    """(data home, the targets of the first N instances) of fake tem_full test data."""
    root = tmp_path_factory.mktemp("board-home")
    make_structured("tem_full", root, {"test": 3})
    task = get_task(TASK, **PARAMS)
    ds = task.open(root=root)
    return root, np.stack([inst.target for inst in task.instances(ds, N)])


class Server(BoardProcess):
    """A board server on the fake data of ``root`` (``wemd leaderboard serve --root``)."""

    def __init__(self, db_url: str, data: Path, root: Path, *extra: str, workers: int = 1):
        super().__init__(db_url, data, ["--root", str(root), *extra], workers)

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


def queue_files(client, targets: np.ndarray, folder: Path, count: int, prefix: str) -> list[str]:
    """Submit ``count`` distinct prediction files (targets shifted a little more each time);
    return the submission ids."""
    return [client.submit(TASK, write_predictions(folder / f"{prefix}{k}.npz",
                                                  np.clip(targets + 0.01 * (k + 1), 0, 1)),
                          method=f"{prefix}-{k}", n=N, params=PARAMS)["id"] for k in range(count)]


def worker_pids(server_pid: int) -> list[int]:
    """The scoring processes of a board server (its spawned children)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == server_pid and b"spawn_main" in cmd:
            pids.append(int(stat.parent.name))
    return pids
