"""One verified, resumable, bounded, multi-mirror fetch: every listed file wemd downloads.

``fetch_verified`` tries a file's URLs in order (mirrors), retries answers that may heal (408,
429, 5xx, dropped connections) with a back-off and gives up at once on the rest (404 ...). The
bytes stream through :class:`ListedStream`: appended to a ``.part`` file (so an interrupted
transfer resumes with HTTP Range, within a call or in the next run), counted against the listed
size and hashed as they arrive, so the listed sha256 is checked without reading the file again.
A ``consume`` callback may read the stream as it arrives (``wemd download`` extracts tar shards
this way, checking every member against its own listing). ``first_served`` reads small documents
(a mirror's ``mirror.json``) under the same retry rule and a size cap.

Every transfer is bounded (:class:`Bounds`): never more than the listed size, a deadline per
file, a minimum rate over a sliding window and a timeout without data; each bound names itself
in the error, and a mirror that breaks one is left for the next. pooch, which hashes a file only
once it is complete, still fetches what has no listing (COD CIFs); listed files stream here.

A mirror may be a local folder: :func:`mirror_base` turns a path or ``file://`` URL into a base
URL, and ``file://`` URLs are read like a static server's answers, through the same checks.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Sequence, TypeVar

from wemd.errors import WEMDError

OFFLINE_ENV = "WEMD_OFFLINE"
CHUNK_SIZE = 1 << 20
#: A mirror.json larger than this is refused unread (the largest real one, 98340 waves with
#: metadata, is about 40 MB).
MAX_DOCUMENT_BYTES = 128 << 20
#: Seconds to read such a document (a trickling server is left for the next mirror).
DOCUMENT_DEADLINE = 300.0
#: Listed files streamed at once (network-bound: threads overlap waiting, hashing and writing).
DEFAULT_WORKERS = 4
T = TypeVar("T")


class Bounds(NamedTuple):
    """Limits on one file's transfer; each one, when passed, is named in the error."""

    timeout: float = 30.0               #: seconds without any data from the server
    deadline: Optional[float] = 24 * 3600.0   #: seconds for one file over all its attempts
    min_rate: float = 16 * 1024         #: bytes/s, averaged over each ``window``
    window: float = 60.0                #: seconds over which the rate is measured


class BoundExceeded(WEMDError):
    """A transfer passed one of its :class:`Bounds` or sent more than the listed size."""


class DigestMismatch(WEMDError):
    """The bytes received do not match the listed sha256 (the ``.part`` file is deleted)."""


class Cancelled(WEMDError):
    """The caller set the transfer's ``stop`` event (e.g. on Ctrl-C); the ``.part`` is kept."""


class BadMirror(WEMDError, ValueError):
    """A mirror that is neither an http(s) URL nor an existing local folder."""


def mirror_base(mirror: str) -> str:
    """A mirror's base URL: http(s) URLs as given; a local folder (a path, relative or absolute,
    or a ``file://`` URL) as its absolute ``file://`` URL. Anything else raises BadMirror."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    text = str(mirror)
    url = urlparse(text)
    if url.scheme.lower() in ("http", "https") and url.netloc:
        return text.rstrip("/")
    if url.scheme.lower() == "file" and url.netloc in ("", "localhost"):
        folder = Path(url2pathname(url.path))
    else:
        folder = Path(text).expanduser()
    if text and folder.is_dir():
        return folder.resolve().as_uri()
    raise BadMirror(f"mirror {text!r} is not an http(s):// URL or an existing folder: give the "
                    "base URL a mirror is served at (https://host/path) or the local folder (or "
                    "file:// URL) that holds its files.")


class _FileAdapter:
    """Lets requests read ``file://`` URLs as a static server answers: 200 with the whole file
    and its Content-Length, 404 when there is no such file."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        from urllib.parse import urlparse
        from urllib.request import url2pathname

        from requests.models import Response

        response = Response()
        response.url, response.request = request.url, request
        try:
            response.raw = open(url2pathname(urlparse(request.url).path), "rb")
        except OSError as exc:
            response.status_code, response.reason = 404, f"Not Found ({exc.strerror})"
            response.raw = io.BytesIO(b"")
            return response
        response.status_code, response.reason = 200, "OK"
        response.headers["Content-Length"] = str(os.fstat(response.raw.fileno()).st_size)
        return response

    def close(self) -> None:
        pass


def _get(url: str, **kwargs: Any) -> Any:
    """``requests.get``, that also reads ``file://`` URLs (mirrors that are local folders)."""
    import requests

    with requests.Session() as session:
        session.mount("file://", _FileAdapter())
        return session.get(url, **kwargs)


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


class ListedStream(io.RawIOBase):
    """The bytes of one listed file as they arrive, read like a file.

    What an earlier attempt left in ``part`` comes first (when the server honours the Range
    for the rest; a server that answers 200 starts the file over), then the server's bytes,
    which are appended to ``part`` as they are read. Reading stops at the listed ``size``;
    ``finish`` reads what is left and checks size and sha256 (the hash is kept as the bytes
    pass, so nothing is read twice).
    """

    def __init__(self, url: str, part: Path, size: int, sha256: str, bounds: Bounds = Bounds(),
                 started: Optional[float] = None, progress: Optional[bool] = None,
                 stop: Any = None):
        super().__init__()
        self.url, self.part, self.size, self.sha256 = url, Path(part), size, sha256
        self.bounds, self.progress, self.stop = bounds, progress, stop
        self.started = time.monotonic() if started is None else started
        self.hash = hashlib.sha256()
        self.done = 0                   # bytes handed out (prefix and network)
        self.opened = False
        self.response: Any = None
        self.prefix: Any = None
        self.sink: Any = None
        self.bar: Any = None
        self.window = (time.monotonic(), 0)  # (time, network bytes) when the rate window began
        self.received = 0

    def readable(self) -> bool:
        return True

    def read(self, size: Optional[int] = -1) -> bytes:
        """Up to ``size`` bytes (what has arrived), as the bytes object received: no copy."""
        if self.stop is not None and self.stop.is_set():
            raise Cancelled(f"{self.url}: stopped after {self.done} of {self.size} bytes (the "
                            "partial file is kept to resume)")
        if not self.opened:
            self._open()
        left = self.size - self.done
        want = left if size is None or size < 0 else min(size, left)
        if want <= 0:
            return b""
        if self.prefix is not None:
            data = self.prefix.read(want)
            if data:
                return self._count(data)
            self.prefix.close()
            self.prefix = None
        data = _read1(self.response, want)
        if not data:
            import requests

            raise requests.exceptions.ConnectionError(
                f"{self.url}: received {self.done} of {self.size} bytes; the partial file is kept "
                "to resume")
        self.received += len(data)
        self._check_bounds()
        return self._count(data, write=True)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        memoryview(buffer)[:len(data)] = data
        return len(data)

    def _count(self, data: bytes, write: bool = False) -> bytes:
        self.sink.put(data, write)  # hashed (and appended to the .part) beside the reader
        self.done += len(data)
        if self.bar is not None:
            self.bar.update(len(data))
        return data

    def _open(self) -> None:
        import requests
        from tqdm.auto import tqdm

        self.opened = True
        offset = self.part.stat().st_size if self.part.exists() else 0
        offset = offset if offset <= self.size else 0
        self.bar = tqdm(total=self.size, unit="B", unit_scale=True, leave=False,
                        desc=self.part.name.removesuffix(".part"), disable=tqdm_disable(self.progress))
        if offset and offset == self.size:  # complete from an earlier run: nothing to ask for
            self.prefix = open(self.part, "rb")
            self.sink = _Sink(None, "", self.hash)
            return
        headers = {"Accept-Encoding": "identity"}  # byte ranges of the stored file
        if offset:
            headers["Range"] = f"bytes={offset}-"
        self.response = _get(self.url, headers=headers, stream=True, timeout=self.bounds.timeout)
        self.response.raise_for_status()
        if self.response.status_code != 206:
            offset = 0  # the server sends the whole file
        elif _range_start(self.response.headers.get("Content-Range")) != offset:
            self.part.unlink(missing_ok=True)  # appending another range would corrupt it
            raise requests.exceptions.ConnectionError(
                f"{self.url}: asked for bytes {offset}- but got range "
                f"{self.response.headers.get('Content-Range')!r}; the next attempt starts from zero")
        length = _content_length(self.response)
        if length is not None and length != self.size - offset:
            raise BoundExceeded(f"{self.url} announces {length + offset} bytes, but the "
                                f"listing says {self.size}")
        if offset:
            self.prefix = open(self.part, "rb")
        self.sink = _Sink(self.part, "ab" if offset else "wb", self.hash)

    def _check_bounds(self) -> None:
        now = time.monotonic()
        bounds = self.bounds
        if bounds.deadline is not None and now - self.started > bounds.deadline:
            raise BoundExceeded(f"{self.url}: deadline of {bounds.deadline:g} s passed after "
                                f"{self.done} of {self.size} bytes (the partial file is kept)")
        t0, n0 = self.window
        if now - t0 >= bounds.window:
            rate = (self.received - n0) / (now - t0)
            if rate < bounds.min_rate:
                raise BoundExceeded(f"{self.url}: {rate:.0f} B/s over {now - t0:.0f} s is below "
                                    f"the minimum rate of {bounds.min_rate:g} B/s (the partial file "
                                    "is kept)")
            self.window = (now, self.received)

    def finish(self) -> None:
        """Read to the listed size and check the sha256 (a mismatch deletes the ``.part``)."""
        while self.read(CHUNK_SIZE):
            pass
        self.close()
        if self.sink.error is not None:
            raise self.sink.error
        if self.hash.hexdigest() != self.sha256:
            self.part.unlink(missing_ok=True)
            raise DigestMismatch(f"{self.url}: the {self.size} bytes received have sha256 "
                                 f"{self.hash.hexdigest()}, not the listed {self.sha256}")

    def close(self) -> None:
        for handle in (self.prefix, self.sink, self.response, self.bar):
            if handle is not None:
                handle.close()  # the sink writes every byte received before it stops
        self.prefix = self.bar = None
        super().close()


class _Sink:
    """A thread that hashes chunks, and appends those received to the ``.part``, in order.

    hashlib and file writes release the GIL, so this runs beside the reader (a tar extractor
    hashing members) on another core.
    """

    def __init__(self, path: Optional[Path], mode: str, digest: Any):
        import queue
        import threading

        self.digest, self.error = digest, None
        self.chunks: Any = queue.Queue(32)
        self.thread = threading.Thread(target=self._run, args=(path, mode), daemon=True)
        self.thread.start()

    def put(self, data: bytes, write: bool) -> None:
        self.chunks.put((data, write))

    def _run(self, path: Optional[Path], mode: str) -> None:
        try:
            with (open(path, mode) if path is not None else contextlib.nullcontext()) as out:
                while (item := self.chunks.get()) is not None:
                    self.digest.update(item[0])
                    if item[1]:
                        out.write(item[0])
        except BaseException as exc:  # e.g. a full disk: raised by ``finish``
            self.error = exc
            while self.chunks.get() is not None:  # keep taking, so the reader never blocks
                pass

    def close(self) -> None:
        if self.thread.is_alive():
            self.chunks.put(None)
            self.thread.join()


def _content_length(response: Any) -> Optional[int]:
    """The announced Content-Length (None when absent or not ASCII digits: '²' is not a number)."""
    length = response.headers.get("Content-Length")
    return int(length) if length is not None and re.fullmatch(r"[0-9]+", length) else None


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


def fetch_verified(urls: Sequence[str], fname: str, sha256: str, folder: Path, *, size: int,
                   consume: Optional[Callable[[ListedStream], T]] = None,
                   undo: Optional[Callable[[], None]] = None, progress: Optional[bool] = None,
                   retries: int = 2, bounds: Bounds = Bounds(), keep_part: bool = False,
                   stop: Any = None) -> Any:
    """Stream the listed file ``fname`` (``size`` bytes, ``sha256``) from the first URL that
    serves it whole and matching.

    Without ``consume`` the verified file is renamed to ``folder/fname`` and its path returned.
    With it, ``consume(stream)`` reads the bytes as they arrive and its result is returned once
    the whole file is verified; the ``.part`` is then removed (unless ``keep_part``: removing a
    large file takes time the caller may overlap with other work); ``undo()`` is called after a
    failed attempt (to drop what ``consume`` wrote). Connection problems keep
    ``folder/fname.part`` for the next attempt or run. Raises FetchFailed when no URL gave the
    file; its ``corrupt`` list names the URLs whose bytes did not match their listing. Setting
    the ``stop`` event (a ``threading.Event``) from another thread ends the transfer within one
    read with Cancelled, keeping the ``.part``.
    """
    import requests

    part = folder / f"{fname}.part"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    failed = FetchFailed()
    for url in urls:
        for attempt in range(retries + 1):
            stream = ListedStream(url, part, size, sha256, bounds, started, progress, stop)
            try:
                with stream:
                    result = consume(stream) if consume is not None else None
                    stream.finish()
            except (DigestMismatch, CorruptListing) as exc:
                part.unlink(missing_ok=True)
                failed.corrupt.append(f"  {url}: {_reason(exc)}")
            except BoundExceeded as exc:
                failed.errors.append(f"  {url}: {_reason(exc)}")
            except requests.RequestException as exc:
                if _retry(exc, url, attempt, retries, failed.errors):
                    if undo is not None:
                        undo()
                    continue
            else:
                if consume is not None:
                    if not keep_part:
                        part.unlink(missing_ok=True)
                    return result
                final = folder / fname
                os.replace(part, final)
                return final
            if undo is not None:
                undo()
            break
    raise failed


class CorruptListing(WEMDError):
    """What a listed file holds does not match its listing (raised by a ``consume`` callback)."""


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
                with _get(url, timeout=timeout, stream=True) as r:
                    r.raise_for_status()
                    return parse(_capped_body(r, url), url), url
            except WEMDError as exc:
                failed.errors.append(f"  {url}: {_reason(exc)}")
                break
            except requests.RequestException as exc:
                if not _retry(exc, url, attempt, retries, failed.errors):
                    break
    raise failed


def _capped_body(response: Any, url: str) -> bytes:
    """A response body of at most MAX_DOCUMENT_BYTES, read within DOCUMENT_DEADLINE seconds;
    BoundExceeded (naming the bound) otherwise, before reading when the announced length is
    too large."""
    cap, deadline = MAX_DOCUMENT_BYTES, DOCUMENT_DEADLINE
    length = _content_length(response)
    if length is not None and length > cap:
        raise BoundExceeded(f"{url} is {length} bytes, over the {cap} byte limit for a document")
    body = bytearray()
    started = time.monotonic()
    while block := _read1(response, CHUNK_SIZE):
        body += block
        if len(body) > cap:
            raise BoundExceeded(f"{url} sent more than the {cap} byte limit for a document")
        if time.monotonic() - started > deadline:
            raise BoundExceeded(f"{url}: the {deadline:g} s deadline for a document passed "
                                f"after {len(body)} bytes")
    return bytes(body)


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
