"""One verified, resumable, multi-mirror fetch: every file wemd downloads comes through here.

``fetch_verified`` tries a file's URLs in order (mirrors), retries answers that may heal (408,
429, 5xx, dropped connections) with a back-off and gives up at once on the rest (404 ...),
resumes a ``.part`` file with HTTP Range across attempts and runs, and lets pooch check the
sha256 before the file gets its final name. ``get_json_bytes`` reads small documents (a mirror's
``mirror.json``) under the same retry rule. ``wemd download`` (dataset shards) and
``load_pretrained`` (model weights) both use them, so a change to how wemd fetches or verifies
files is made here once.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar

from wemd.errors import WEMDError

OFFLINE_ENV = "WEMD_OFFLINE"
CHUNK_SIZE = 1 << 20
T = TypeVar("T")


def is_offline() -> bool:
    """True when ``WEMD_OFFLINE`` forbids network access."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def tqdm_disable(progress: Optional[bool]) -> Optional[bool]:
    """tqdm's ``disable`` for a progress flag: None shows a bar only when stderr is a terminal."""
    return None if progress is None else not progress


class FetchFailed(WEMDError):
    """Every URL failed; ``errors`` say why per attempt, ``corrupt`` lists sha256 mismatches."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []
        self.corrupt: list[str] = []

    def __str__(self) -> str:
        return "\n".join(self.corrupt + self.errors)


class ResumableDownloader:
    """A pooch downloader that resumes: it appends to a stable ``.part`` file via HTTP Range.

    pooch streams into a fresh temporary file on each attempt, so an interrupted download would
    start again from zero. This downloader keeps the bytes in ``part`` across attempts and runs,
    asks the server for the rest (``Range: bytes=N-``), starts over when the server ignores the
    range (200 instead of 206), and hands the complete file to pooch, which checks its sha256.
    """

    def __init__(self, part: Path, size: Optional[int] = None, progress: Optional[bool] = None,
                 timeout: float = 30.0, chunk_size: int = CHUNK_SIZE):
        self.part, self.size = Path(part), size
        self.progress, self.timeout, self.chunk_size = progress, timeout, chunk_size

    def __call__(self, url: str, output_file: Any, pooch: Any, check_only: bool = False) -> Any:
        import requests
        from tqdm.auto import tqdm

        if check_only:
            with requests.head(url, timeout=self.timeout, allow_redirects=True) as r:
                return r.status_code == 200
        offset = self.part.stat().st_size if self.part.exists() else 0
        if self.size is not None and offset > self.size:
            offset = 0
        if self.size is None or offset < self.size:
            headers = {"Accept-Encoding": "identity"}  # byte ranges of the stored file
            if offset:
                headers["Range"] = f"bytes={offset}-"
            with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as r:
                r.raise_for_status()
                if r.status_code != 206:
                    offset = 0  # the server sent the whole file
                elif _range_start(r.headers.get("Content-Range")) != offset:
                    self.part.unlink(missing_ok=True)  # appending another range would corrupt it
                    raise requests.exceptions.ConnectionError(
                        f"{url}: asked for bytes {offset}- but got range "
                        f"{r.headers.get('Content-Range')!r}; the next attempt starts from zero")
                length = r.headers.get("Content-Length")
                total = offset + int(length) if length is not None else self.size
                with open(self.part, "ab" if offset else "wb") as fh, \
                        tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                             desc=self.part.name.removesuffix(".part"), leave=False,
                             disable=tqdm_disable(self.progress)) as bar:
                    # read1 returns what has arrived (up to a chunk), so an interrupted
                    # transfer keeps every byte received so far
                    while block := _read1(r, self.chunk_size):
                        fh.write(block)
                        bar.update(len(block))
        got = self.part.stat().st_size
        if self.size is not None and got != self.size:
            raise requests.exceptions.ConnectionError(
                f"{url}: received {got} of {self.size} bytes; the partial file is kept to resume")
        os.replace(self.part, output_file)
        return None


def _range_start(content_range: Optional[str]) -> Optional[int]:
    """The first byte of a ``Content-Range: bytes START-END/SIZE`` header (None if malformed)."""
    match = re.fullmatch(r"bytes\s+(\d+)-\d+/(\d+|\*)", (content_range or "").strip())
    return int(match[1]) if match else None


def _read1(response: Any, size: int) -> bytes:
    import requests
    import urllib3

    raw = response.raw
    # urllib3 >= 2 has read1 (what has arrived); 1.x only read(size), which loses the bytes of
    # an interrupted chunk (at most ``size``), so a resume starts a little earlier
    read = getattr(raw, "read1", None) or raw.read
    try:
        return read(size)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise requests.exceptions.ConnectionError(f"transfer interrupted ({exc})") from exc


def fetch_verified(urls: Sequence[str], fname: str, sha256: str, folder: Path, *,
                   size: Optional[int] = None, progress: Optional[bool] = None,
                   retries: int = 2, timeout: float = 30.0) -> Path:
    """``folder/fname`` downloaded from the first URL that serves bytes matching ``sha256``.

    Connection problems keep ``folder/fname.part`` for the next attempt or run. Raises
    FetchFailed when no URL gave the file; its ``corrupt`` list names the URLs whose bytes did
    not match (pooch has already deleted them).
    """
    import pooch
    import requests

    failed = FetchFailed()
    for url in urls:
        for attempt in range(retries + 1):
            downloader = ResumableDownloader(folder / f"{fname}.part", size, progress, timeout)
            try:
                return Path(pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=fname,
                                           path=folder, downloader=downloader))
            except ValueError as exc:  # pooch: hash mismatch; the bad file is already gone
                failed.corrupt.append(f"  {url}: {exc}".replace("\n", " "))
                break
            except requests.RequestException as exc:
                if not _retry(exc, url, attempt, retries, failed.errors):
                    break
    raise failed


def first_served(urls: Sequence[str], parse: Callable[[bytes, str], T], *, retries: int = 0,
                 timeout: float = 30.0) -> tuple[T, str]:
    """``parse(body, url)`` of the first URL that answers and parses, and that URL.

    ``parse`` raises WEMDError for a body that is not what was asked for; that URL is then
    skipped without retries. Raises FetchFailed (``errors``: why each URL failed).
    """
    import requests

    failed = FetchFailed()
    for url in urls:
        for attempt in range(retries + 1):
            try:
                with requests.get(url, timeout=timeout) as r:
                    r.raise_for_status()
                    return parse(r.content, url), url
            except WEMDError as exc:
                failed.errors.append(f"  {url}: {_reason(exc)}")
                break
            except requests.RequestException as exc:
                if not _retry(exc, url, attempt, retries, failed.errors):
                    break
    raise failed


def _retry(exc: Exception, url: str, attempt: int, retries: int, errors: list[str]) -> bool:
    """Log a failed request; True (after a back-off) when another attempt is worth making."""
    import requests

    if isinstance(exc, requests.HTTPError) and not _transient(exc):
        errors.append(f"  {url}: {_reason(exc)}")
        return False  # 404 and friends do not heal by retrying
    errors.append(f"  {url} (attempt {attempt + 1}): {_reason(exc)}")
    if attempt < retries:
        time.sleep(min(0.2 * 2 ** attempt, 5.0))
        return True
    return False


def _transient(exc: Exception) -> bool:
    """True for HTTP answers that may heal on a retry: 408, 429 and server errors (5xx)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status is not None and (status in (408, 429) or status >= 500)


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:300] + "..."
