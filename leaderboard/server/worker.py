"""Worker processes: each claims queued submissions from the database and scores them.

``Workers`` starts N processes (``spawn``: no state shared with the web server) and watches
them: a worker that dies (killed, out of memory) has its claimed job put back in the queue and
is replaced. Jobs left ``scoring`` by a killed server are requeued when the board starts.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from typing import Optional

from wemd.errors import WEMDError
from wemd.leaderboard.server import db
from wemd.leaderboard.server.scoring import Config, Scorer

log = logging.getLogger("wemd.leaderboard.server")
POLL_S = 0.2


def work(cfg: Config, name: str, parent: Optional[int] = None) -> None:
    """Claim and score jobs until SIGTERM (the job at hand is finished first) or until the
    server process ``parent`` is gone."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server; it stops us
    engine = db.connect(cfg.db, create=False)
    scorer = Scorer(cfg)
    while not stop.is_set() and (parent is None or os.getppid() == parent):
        job = db.claim(engine, name)
        if job is None:
            time.sleep(POLL_S)
            continue
        try:
            entry = scorer.score(job)
        except WEMDError as exc:
            db.finish(engine, job["id"], reason=str(exc))
        except Exception as exc:  # a bug, not the submission's fault: say so
            log.error("submission %s: %s", job["id"], traceback.format_exc())
            db.finish(engine, job["id"], reason=f"Internal error while scoring "
                                                f"({type(exc).__name__}: {exc}); tell the host.")
        else:
            db.finish(engine, job["id"], entry=entry)


class Workers:
    """N worker processes, restarted when they die, with their claimed jobs requeued."""

    def __init__(self, cfg: Config, count: int):
        self.cfg, self.count = cfg, count
        self.ctx = mp.get_context("spawn")
        self.stop = threading.Event()
        self.procs: dict[str, mp.process.BaseProcess] = {}
        self._watch: Optional[threading.Thread] = None
        self._serial = 0

    def _spawn(self) -> None:
        self._serial += 1
        name = f"{os.getpid()}-{self._serial}"
        proc = self.ctx.Process(target=work, args=(self.cfg, name, os.getpid()),
                                daemon=True,
                                name=f"wemd-worker-{name}")
        proc.start()
        self.procs[name] = proc

    def start(self) -> None:
        for _ in range(self.count):
            self._spawn()
        self._watch = threading.Thread(target=self._supervise, daemon=True)
        self._watch.start()

    def _supervise(self) -> None:
        engine = db.connect(self.cfg.db, create=False)
        while not self.stop.wait(1.0):
            for name, proc in list(self.procs.items()):
                if not proc.is_alive():
                    log.warning("worker %s ended (exit %s); its job goes back to the queue",
                                name, proc.exitcode)
                    del self.procs[name]
                    db.requeue_stale(engine, worker=name)
                    self._spawn()

    def close(self) -> None:
        """SIGTERM each worker (no semaphores shared with them: a server ended by a signal
        leaves none behind), then wait for it to finish its job."""
        self.stop.set()
        if self._watch is not None:  # no worker respawned while these are being stopped
            self._watch.join(timeout=10)
        procs = list(self.procs.values())
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
