"""Uploaded files, kept content-addressed: ``{data}/blobs/{sha[:2]}/{sha}``.

An upload streams into a temporary file in the same folder tree while it is hashed and counted;
past the size cap it is dropped (never buffered whole). A finished file is renamed into place
under its hash, so a stored blob is always complete and any entry can be re-scored from it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import AsyncIterator

from wemd.errors import WEMDError

_SHA = re.compile(r"[0-9a-f]{64}")


class TooLarge(WEMDError):
    """An upload over the size cap (HTTP 413)."""


class Store:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        (self.folder / "blobs").mkdir(parents=True, exist_ok=True)
        (self.folder / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, sha: str) -> Path:
        """Where blob ``sha`` lives (``sha`` comes from input: only 64 hex digits are accepted)."""
        if not isinstance(sha, str) or not _SHA.fullmatch(sha):
            raise WEMDError(f"{str(sha)[:80]!r} is not a sha256 (64 lowercase hex digits).")
        return self.folder / "blobs" / sha[:2] / sha

    def has(self, sha: str) -> bool:
        return self.path(sha).is_file()

    async def put(self, chunks: AsyncIterator[bytes], cap: int) -> tuple[str, int]:
        """Store a stream of at most ``cap`` bytes; return (sha256, size)."""
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=self.folder / "tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > cap:
                        raise TooLarge(f"The upload is larger than this board's cap of {cap} "
                                       "bytes; submit fewer instances (--n) or ask the host.")
                    digest.update(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            sha = digest.hexdigest()
            final = self.path(sha)
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)  # same content under the same name: replacing is harmless
            return sha, size
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
