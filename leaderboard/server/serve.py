"""Run a board: requeue what a previous run left unfinished, start the workers, serve HTTP."""

from __future__ import annotations

import logging

from wemd.leaderboard.server import db
from wemd.leaderboard.server.app import create_app
from wemd.leaderboard.server.scoring import Config
from wemd.leaderboard.server.worker import Workers

log = logging.getLogger("wemd.leaderboard.server")


def serve(cfg: Config, host: str = "127.0.0.1", port: int = 8080, workers: int = 1) -> None:
    """Serve the board at ``host:port`` with ``workers`` scoring processes until stopped."""
    import uvicorn

    engine = db.connect(cfg.db)
    again = db.requeue_stale(engine)
    if again:
        log.warning("%d submissions left scoring by the last run were requeued or failed", again)
    engine.dispose()
    app = create_app(cfg)
    pool = Workers(cfg, workers)
    pool.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        pool.close()
