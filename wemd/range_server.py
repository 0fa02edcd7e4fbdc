"""A static HTTP server with byte ranges: ``wemd mirror serve`` and the tests' local mirrors.

Any static server can host a mirror folder; this one ships with wemd so that a mirror can be
tried on 127.0.0.1 with resumable (Range) downloads and no other software.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
from typing import Any, Optional

from wemd.home import PathLike


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single byte-range support (HTTP 206), which resumed downloads need.

    ``http.server``'s own handler ignores ``Range``; this one honours ``bytes=N-``,
    ``bytes=N-M`` and the suffix ``bytes=-N`` (the last N bytes, how zarr reads a shard's index)
    and answers 416 past the end, so ``wemd mirror serve`` is a usable mirror and zarr store.
    """

    _range_left: Optional[int] = None

    def send_head(self):  # type: ignore[override]
        self._range_left = None
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", (self.headers.get("Range") or "").strip())
        if match is not None and not (match[1] or match[2]):
            match = None  # "bytes=-": no range at all
        path = self.translate_path(self.path)
        if match is None or not os.path.isfile(path):
            return super().send_head()
        fh = open(path, "rb")
        size = os.fstat(fh.fileno()).st_size
        if match[1]:
            start = int(match[1])
            end = min(int(match[2]) if match[2] else size - 1, size - 1)
        else:  # suffix: the last N bytes (all of a shorter file)
            start, end = max(0, size - int(match[2])), size - 1
        if start >= size or end < start:
            fh.close()
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        fh.seek(start)
        self._range_left = end - start + 1
        return fh

    def copyfile(self, source, outputfile) -> None:  # type: ignore[override]
        """The file (or its range) straight from the page cache to the socket (sendfile)."""
        outputfile.flush()
        self.connection.sendfile(source, offset=source.tell(), count=self._range_left)
        return None

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per shard is noise
        pass


def serve(directory: PathLike, host: str = "127.0.0.1", port: int = 0,
          handler: type = RangeRequestHandler) -> http.server.ThreadingHTTPServer:
    """An HTTP server for a mirror folder (port 0: a free port); call ``serve_forever`` on it."""
    return http.server.ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(directory)))
