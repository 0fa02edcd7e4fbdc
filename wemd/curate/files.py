"""The per-file step of a curation run: find the input files, read one, run the chain on its
frames and cache the result atomically, so an interrupted run resumes where it stopped.

A file's cache entry is ``{cache}/{key}.npz`` (the chain's arrays) and ``{key}.json`` (what was
found), written in that order, each atomically: the JSON's presence means the file is done. The
key hashes the file's relative path, size and modification time with every rule of the run, so
a changed file or rule is processed again and nothing stale is reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from wemd.curate.chain import Rules, cut, duplicate_keys, run_chain
from wemd.curate.readers import Rejected, read_frames
from wemd.files import UnsafeNameError, atomic_path, safe_relpath, sha256_file, write_json

#: bump when the cached results change meaning
CACHE_FORMAT = "wemd-curate-file/2"


def scan(src: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Relative POSIX paths of the regular files under ``src`` (sorted, hidden names and links
    skipped), and the entries refused on the way with the reason (a folder that cannot be
    listed too: its files would otherwise be left out without a word)."""
    src = Path(src)
    files, refused = [], []

    def unlisted(exc: OSError) -> None:
        rel = Path(exc.filename).relative_to(src).as_posix()
        refused.append({"path": rel.encode("utf-8", "backslashreplace").decode("utf-8"),
                        "reason": f"folder that cannot be listed ({exc.strerror}); none of its "
                                  "files were read"})

    for folder, dirs, names in os.walk(src, onerror=unlisted, followlinks=False):
        rel_folder = Path(folder).relative_to(src)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            rel = (rel_folder / name).as_posix()
            shown = rel.encode("utf-8", "backslashreplace").decode("utf-8")
            try:
                safe_relpath(rel, "file name")
            except UnsafeNameError:
                refused.append({"path": shown, "reason": "file name with control characters, "
                                "backslashes or invalid UTF-8; rename it"})
                continue
            path = src / rel
            if path.is_symlink():
                refused.append({"path": rel, "reason": "symbolic link (not followed)"})
            elif not path.is_file():
                refused.append({"path": rel, "reason": "not a regular file"})
            else:
                files.append(rel)
    return files, refused


def cache_key(src: Path, rel: str, rules: Rules) -> str:
    st = (Path(src) / rel).stat()
    text = json.dumps([CACHE_FORMAT, rel, st.st_size, st.st_mtime_ns, rules.to_json()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def cached(cache: Path, key: str) -> Optional[dict[str, Any]]:
    """A finished file's summary, or None (never finished, or a damaged entry: done again)."""
    path = Path(cache) / f"{key}.json"
    try:
        summary = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("format") != CACHE_FORMAT \
            or summary.get("key") != key or summary.get("status") not in ("ok", "rejected"):
        return None
    if summary["status"] == "ok" and not (Path(cache) / f"{key}.npz").is_file():
        return None
    return summary


def process_file(src: str, rel: str, rules: Rules, cache: str) -> dict[str, Any]:
    """Read one file, run the chain on each frame, cache and return its summary.

    Never raises for a bad file: it becomes a summary with status ``rejected`` and the reason.
    """
    key = cache_key(Path(src), rel, rules)
    done = cached(Path(cache), key)
    if done is not None:
        return done | {"reused": True}
    path = Path(src) / rel
    summary = _summary(path, rel, key)
    arrays: dict[str, np.ndarray] = {}
    try:
        summary["sha256"] = sha256_file(path)
        frames, skipped = read_frames(path, stacks=rules.stacks)
        summary["skipped"] = skipped
        for fr in frames:
            exact, near = duplicate_keys(fr.data)
            out, facts = run_chain(fr.data, fr.meta, rules)
            summary["frames"].append({"frame": fr.frame, "shape": list(fr.data.shape), "exact": exact,
                                      "near": near, "meta": fr.meta, **facts})
            arrays.update({f"{variant}/{fr.frame}": arr for variant, arr in out.items()})
    except Rejected as exc:
        summary.update(status="rejected", reason=exc.reason, frames=[])
    except Exception as exc:  # one bad file never stops the run: it is listed with the error
        summary.update(status="rejected", reason=f"{type(exc).__name__}: {exc}"[:300], frames=[])
    if summary["status"] == "ok":
        with atomic_path(Path(cache) / f"{key}.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
    write_json(Path(cache) / f"{key}.json", summary)
    return summary | {"reused": False}


def _summary(path: Path, rel: str, key: str) -> dict[str, Any]:
    return {"format": CACHE_FORMAT, "key": key, "path": rel, "size": path.stat().st_size,
            "status": "ok", "frames": []}


def failed(src: str, rel: str, rules: Rules, reason: str) -> dict[str, Any]:
    """The summary of a file whose worker was stopped or died (not cached: a rerun tries again)."""
    return _summary(Path(src) / rel, rel, cache_key(Path(src), rel, rules)) | {
        "status": "rejected", "reason": reason, "reused": False}


def load_arrays(cache: Path, key: str, variant: str, rules: Rules) -> dict[int, np.ndarray]:
    """One variant's arrays of one finished file, by frame: read from the .npz (only those), or
    cut from the full images for the variants that are parts of them."""
    stored = variant in ("full", "d96")
    prefix = f"{variant if stored else 'full'}/"
    with np.load(Path(cache) / f"{key}.npz", allow_pickle=False) as z:
        arrays = {int(k[len(prefix):]): z[k] for k in z.files if k.startswith(prefix)}
    if stored:
        return arrays
    parts = {frame: cut(variant, full, rules) for frame, full in arrays.items()}
    return {frame: part for frame, part in parts.items() if part is not None}
