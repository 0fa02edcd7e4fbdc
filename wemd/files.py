"""Files on disk: atomic writes (a crash never leaves a half-written file that looks whole),
content hashes, linking or copying a file into place, and the one rule for names from input.

Every file name or relative path that comes from input (a registry entry, a CIF id, a mirror's
shard and file keys, an archive member, a board entry id, an output name) goes through
:func:`safe_relpath` / :func:`safe_join` before anything is written, so nothing can land outside
the folder the user chose.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from wemd.errors import WEMDError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: os.PathLike | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; a placed file gets the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: os.PathLike | str, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: os.PathLike | str, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: os.PathLike | str, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def save_npy(path: os.PathLike | str, array: np.ndarray) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
    return Path(path)


def sha256_file(path: os.PathLike | str, chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file's bytes, read in chunks (never the whole file at once)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def link_or_copy(src: os.PathLike | str, dst: os.PathLike | str) -> None:
    """Hard-link ``src`` to ``dst`` (a copy where links are impossible), creating parent folders."""
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


#: Bounds on names from input: one path component, a whole relative path, its depth.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_DEPTH = 16
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


class UnsafeNameError(WEMDError, ValueError):
    """A name from input that could write outside the chosen folder, or is not a usable name."""


def safe_relpath(name: Any, what: str = "name", *, allow_hidden: bool = False,
                 single: bool = False) -> str:
    """``name`` as a normalised relative POSIX path, or UnsafeNameError saying why.

    Refused: anything not a non-empty string; absolute paths and drive letters; ``.`` and ``..``
    components; backslashes, NUL and control characters; components over 255 bytes, paths over
    1024 bytes or 16 levels; hidden components (``.x``) unless ``allow_hidden``; any ``/`` when
    ``single`` (a bare file name). ``what`` says where the name came from, for the message.
    """
    def refuse(why: str) -> UnsafeNameError:
        shown = repr(name) if len(repr(name)) < 120 else repr(name)[:117] + "..."
        return UnsafeNameError(f"{what} {shown} is not a safe {'file name' if single else 'relative path'}"
                               f" ({why}); wemd never writes outside the folder you chose.")

    if not isinstance(name, str) or not name:
        raise refuse("it must be a non-empty string")
    if _BAD_CHARS.search(name):
        raise refuse("control characters and backslashes are not allowed")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise refuse("it is absolute")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise refuse("it is not valid UTF-8") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise refuse(f"longer than {MAX_PATH_BYTES} bytes")
    parts = name.split("/")
    if single and len(parts) > 1:
        raise refuse("it must be one name, without '/'")
    if len(parts) > MAX_DEPTH:
        raise refuse(f"deeper than {MAX_DEPTH} levels")
    for part in parts:
        if part in ("", ".", ".."):
            raise refuse("empty, '.' and '..' components are not allowed")
        if part.startswith(".") and not allow_hidden:
            raise refuse("hidden components (starting with '.') are not allowed")
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise refuse(f"a component is longer than {MAX_NAME_BYTES} bytes")
    return name


def safe_join(root: os.PathLike | str, name: Any, what: str = "name", *,
              allow_hidden: bool = False, single: bool = False) -> Path:
    """``root / name`` for a name from input, checked by :func:`safe_relpath` and, after
    resolving links that already exist, still inside ``root``."""
    rel = safe_relpath(name, what, allow_hidden=allow_hidden, single=single)
    root = Path(root)
    path = root / rel
    if not path.resolve().is_relative_to(root.resolve()):
        raise UnsafeNameError(f"{what} {name!r} leads outside {root} through a link; wemd never "
                              "writes outside the folder you chose.")
    return path


def safe_filename(name: Any, what: str = "name") -> str:
    """A bare file name from input (no folders), or UnsafeNameError."""
    return safe_relpath(name, what, single=True)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
