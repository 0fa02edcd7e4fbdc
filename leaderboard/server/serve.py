"""Run a board: requeue what a previous run left unfinished and remove its partial files,
start the workers, serve HTTP."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, AsyncIterator

from wemd.leaderboard.server import db
from wemd.leaderboard.server.app import create_app
from wemd.leaderboard.server.scoring import Config, clear_leftovers
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
    if clear_leftovers(cfg.data):
        log.warning("removed the partial uploads and inputs left by the last run in %s", cfg.data)
    pool = Workers(cfg, workers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        # uvicorn ends the process by re-raising SIGTERM/SIGINT after its shutdown, so the
        # workers are stopped here, in the app's shutdown, not after uvicorn.run returns
        pool.start()
        try:
            yield
        finally:
            pool.close()

    uvicorn.run(create_app(cfg, lifespan=lifespan), host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=5)
