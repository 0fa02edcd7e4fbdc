"""``wemd leaderboard serve`` as a child process on 127.0.0.1: for tests, benchmarks and
notebooks that need a real board server next to them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from wemd.errors import WEMDError


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BoardProcess:
    """A board server in its own process group; ``url`` once :meth:`start` returns."""

    def __init__(self, db_url: str, data: Path, args: Sequence[str] = (), workers: int = 1,
                 log: Optional[Path] = None):
        self.db_url, self.data, self.args, self.workers = db_url, Path(data), list(args), workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(log) if log else self.data.parent / f"server-{self.port}.log"
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 60.0) -> "BoardProcess":
        """Start the server and wait until its API answers."""
        import httpx

        cmd = [sys.executable, "-m", "wemd", "leaderboard", "serve", "--db", self.db_url,
               "--port", str(self.port), "--data", str(self.data), "--workers",
               str(self.workers), *self.args]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise WEMDError(f"The board server ended: {self.log.read_text()[-3000:]}")
            try:
                httpx.get(self.url + "/api/v1/tasks", timeout=2)
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop(signal.SIGKILL)
        raise WEMDError(f"The board server did not answer in {timeout:g} s: "
                        f"{self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM: cleanly; SIGKILL: as a crash), then anything left in its
        process group (its workers and their model processes, also when the server itself
        has already ended)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
