"""The participant's side of a board: upload files, submit, follow a submission, read entries.

``Client(url, token=T).submit(task, "preds.npz", method="my-net")`` uploads each file (streamed,
content-addressed on the server) and queues one submission; ``wait(id)`` follows it until it is
done or failed. ``board()`` gives the server's entries as a board for tables and pages.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union
from urllib.parse import quote

from wemd.errors import WEMDError

PathLike = Union[str, "os.PathLike[str]"]
API = "/api/v1"


class ServerError(WEMDError):
    """The board refused a request or could not be reached; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


class Client:
    """A connection to a board at ``url``; ``token`` is needed to upload and submit."""

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 120.0):
        import httpx

        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        import httpx

        try:
            resp = self._http.request(method, API + path, **kw)
        except httpx.HTTPError as exc:
            raise ServerError(f"Cannot reach the board at {self.url}: {exc}; check --server.") from None
        try:
            ans = resp.json()
        except ValueError:  # not a board: a web page, a proxy's error
            ans = None
        if resp.status_code >= 400:
            why = ((ans.get("error") or ans.get("detail")) if isinstance(ans, dict) else None
                   ) or resp.text[:300]
            raise ServerError(f"{self.url} answered {resp.status_code}: {why}", resp.status_code)
        if ans is None:
            raise ServerError(f"{self.url} answered {path} with {resp.text[:80]!r}, not JSON: it is "
                              "no wemd board; check --server.", resp.status_code)
        return ans

    def tasks(self) -> dict[str, Any]:
        return self._call("GET", "/tasks")

    def upload(self, path: PathLike) -> str:
        """Stream one file to the board's store; return its sha256."""
        path = Path(path)
        if not path.is_file():
            raise WEMDError(f"No file at {path}.")
        with open(path, "rb") as fh:
            ans = self._call("PUT", "/uploads", content=iter(lambda: fh.read(1 << 20), b""),
                             headers={"Content-Length": str(path.stat().st_size),
                                      "Content-Type": "application/octet-stream"})
        return ans["sha256"]

    def submit(self, task: str, predictions: Union[PathLike, Sequence[PathLike], None] = None, *,
               method: str, model: Union[PathLike, Sequence[PathLike], None] = None,
               seeds: Optional[Sequence[int]] = None, kind: Optional[str] = None,
               n: Optional[int] = None, params: Optional[dict[str, Any]] = None,
               code_url: Optional[str] = None) -> dict[str, Any]:
        """Upload prediction files (one per seed) or ONNX models and queue them for scoring;
        return ``{"id", "status", "url"}``. Learned methods need >= 3 files (``seeds``)."""
        if (predictions is None) == (model is None):
            raise WEMDError("Give prediction files or --model ONNX files, not both or neither.")
        given = predictions if predictions is not None else model
        files = [given] if isinstance(given, (str, os.PathLike)) else list(given)
        body = {"task": task, "method": method, "mode": "model" if model is not None else "predictions",
                "files": [self.upload(f) for f in files], "seeds": list(seeds or []),
                "kind": kind, "n": n, "params": params or {}, "code_url": code_url}
        return self._call("POST", "/submissions", json=body)

    def status(self, submission: str) -> dict[str, Any]:
        return self._call("GET", f"/submissions/{quote(submission, safe='')}")

    def wait(self, submission: str, timeout: float = 600.0, poll: float = 0.5) -> dict[str, Any]:
        """The submission's status once it is done or failed (ServerError after ``timeout``)."""
        end = time.monotonic() + timeout
        while True:
            ans = self.status(submission)
            if ans["status"] in ("done", "failed"):
                return ans
            if time.monotonic() > end:
                raise ServerError(f"Submission {submission} is still {ans['status']} after {timeout:g} s.")
            time.sleep(poll)

    def entries(self, task: Optional[str] = None) -> list[dict[str, Any]]:
        return self._call("GET", f"/tasks/{quote(task, safe='')}/entries" if task else "/entries")

    def board(self, task: Optional[str] = None) -> Any:
        """The server's entries as a board (``table``, ``to_frame``, ``render``)."""
        from wemd.leaderboard.board import RecordsBoard

        return RecordsBoard(self.entries(task), self.url)
