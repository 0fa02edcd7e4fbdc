"""Worker processes for a curation run, with a time limit per file.

A reader that hangs or crawls on one file (a damaged header, a tag tree of millions of entries)
must not stall the run, and a worker that is stuck inside C code cannot be interrupted. So each
worker is a process of its own, fed one file at a time through a pipe: a file still running after
``file_timeout`` seconds gets its worker killed and a fresh one started, and the file is rejected
with the reason; a worker that dies (a crash inside a reader) rejects its file the same way.
Rejections made here are not cached, so a rerun (e.g. with a longer limit) tries those files again.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Optional

from wemd.curate.chain import Rules
from wemd.curate.files import failed, process_file
from wemd.curate.readers import import_readers

#: the default time limit of one file (seconds): far over any sane file's few seconds
FILE_TIMEOUT_S = 600.0


def _serve(conn: Connection, src: str, rules: Rules, cache: str) -> None:
    """A worker: say it is ready (after its imports), then curate each file it is sent."""
    import_readers()
    conn.send("ready")
    while True:
        rel = conn.recv()
        if rel is None:
            return
        conn.send(process_file(src, rel, rules, cache))


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    ready: bool = False
    rel: Optional[str] = None
    since: float = 0.0


def run_pool(workers: int, src: str, rels: list[str], rules: Rules, cache: str,
             finished: Callable[[dict], None], file_timeout: float = FILE_TIMEOUT_S) -> None:
    """Curate ``rels`` on ``workers`` processes, calling ``finished`` with each file's summary."""
    ctx = multiprocessing.get_context("spawn")  # not fork: a forked threaded process can deadlock

    def start() -> _Worker:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child, src, rules, cache), daemon=True)
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def drop(w: _Worker, reason: str) -> _Worker:
        _stop(w)
        finished(failed(src, w.rel, rules, reason))
        return start()

    todo = list(reversed(rels))
    pool = [start() for _ in range(min(workers, len(rels)))]
    grace = 0.0  # an error or an interrupt: the workers are stopped at once
    try:
        while todo or any(w.rel is not None for w in pool):
            for w in pool:
                if w.ready and w.rel is None and todo:
                    w.rel, w.since = todo.pop(), time.monotonic()
                    w.conn.send(w.rel)
            busy = [w.since + file_timeout for w in pool if w.rel is not None]
            wait([w.conn for w in pool], timeout=max(0.0, min(busy) - time.monotonic()) if busy else None)
            for k, w in enumerate(pool):
                if w.conn.poll():
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):  # the worker died
                        w.proc.join(1)
                        code = w.proc.exitcode
                        if w.rel is None:
                            raise RuntimeError(f"a curate worker exited (code {code}) before it "
                                               "took a file") from None
                        pool[k] = drop(w, f"the worker reading it died (exit code {code})")
                        continue
                    if msg == "ready":
                        w.ready = True
                    else:
                        w.rel = None
                        finished(msg)
                elif w.rel is not None and time.monotonic() - w.since > file_timeout:
                    pool[k] = drop(w, f"reading and curating it took over {file_timeout:g} s "
                                      "(--file-timeout); the worker was stopped")
        for w in pool:
            w.conn.send(None)
        grace = 5.0
    finally:
        for w in pool:
            _stop(w, grace)


def _stop(w: _Worker, grace: float = 0.0) -> None:
    """End one worker: let it exit within ``grace`` seconds, else terminate, else kill it."""
    w.proc.join(grace)
    if w.proc.is_alive():
        w.proc.terminate()
        w.proc.join(2)
    if w.proc.is_alive():
        w.proc.kill()
        w.proc.join()
    w.conn.close()
