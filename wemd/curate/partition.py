"""Partitions that do not leak: groups, duplicate images joined across groups, whole groups cut
into contiguous splits as WEMD did (``wemd.curation.partition_by_contributor``)."""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath
from typing import Any, Iterable, Mapping, Optional, Sequence

from wemd.curation import partition_by_contributor
from wemd.errors import WEMDError

GROUP_BY = ("folder", "operator", "session")


def group_of(relpath: str, meta: Mapping[str, Any], group_by: str) -> tuple[str, str]:
    """(group, where it came from) of one frame: its folder, or the operator / session its file
    names (a session is the acquisition day when the file states no session), else its folder."""
    folder = PurePosixPath(relpath).parent.as_posix()
    folder = "(top folder)" if folder == "." else folder
    if group_by == "operator" and meta.get("operator"):
        return f"operator:{meta['operator']}", "metadata"
    if group_by == "session":
        day = (meta.get("date") or "")[:10]
        if meta.get("session"):
            return f"session:{meta['session']}", "metadata"
        if day:
            who = meta.get("operator") or folder
            return f"session:{who}@{day}", "metadata (acquisition day)"
    return f"folder:{folder}", "folder" if group_by == "folder" else "folder (no metadata)"


class UnionFind:
    """Disjoint sets of group names (groups that share a duplicate image end up in one)."""

    def __init__(self, names: Iterable[str]):
        self.parent = {n: n for n in names}

    def find(self, n: str) -> str:
        while self.parent[n] != n:
            self.parent[n] = self.parent[self.parent[n]]
            n = self.parent[n]
        return n

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the smaller name leads: deterministic


def join_duplicates(groups: Sequence[str], keys: Sequence[Sequence[Optional[str]]]
                    ) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Blocks of groups that must share a split, and the duplicates that joined them.

    ``groups[i]`` is item i's group, ``keys[i]`` its duplicate keys (exact, near; None: none).
    Returns group -> block name, and one record per duplicate key seen in more than one item.
    """
    uf = UnionFind(sorted(set(groups)))
    seen: dict[tuple[int, str], list[int]] = {}
    for i, ks in enumerate(keys):
        for kind, key in enumerate(ks):
            if key is not None:
                seen.setdefault((kind, key), []).append(i)
    found = []
    for (kind, key), items in sorted(seen.items()):
        if len(items) < 2:
            continue
        for i in items[1:]:
            uf.union(groups[items[0]], groups[i])
        found.append({"kind": ("exact", "near")[kind], "key": key, "items": items})
    return {g: uf.find(g) for g in uf.parent}, found


def _order(block: str) -> str:
    return hashlib.sha256(f"wemd-curate/{block}".encode()).hexdigest()


def assign_splits(item_blocks: Sequence[str], proportions: Mapping[str, int]
                  ) -> tuple[list[int], dict[str, tuple[int, int]]]:
    """Item order and contiguous split ranges: blocks in a hashed (stable, name-independent)
    order, each block's items kept in their given order, cut only between blocks."""
    blocks = sorted(set(item_blocks), key=lambda b: (_order(b), b))
    if len(blocks) < len(proportions):
        raise WEMDError(f"only {len(blocks)} group(s) of images ({', '.join(blocks) or 'none'}) after "
                        f"joining groups that share duplicate images, but {len(proportions)} splits "
                        "need one each so that no group crosses splits: group by another key "
                        "(--group-by folder|operator|session) or add images from more groups.")
    rank = {b: k for k, b in enumerate(blocks)}
    order = sorted(range(len(item_blocks)), key=lambda i: (rank[item_blocks[i]], i))
    ranges = partition_by_contributor([item_blocks[i] for i in order], proportions)
    return order, ranges


def parse_proportions(text: str, names: Sequence[str] = ("train", "val", "test")) -> dict[str, int]:
    """``"75,10,15"`` -> ``{"train": 75, "val": 10, "test": 15}``; a WEMDError for anything else."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != len(names) or any(v <= 0 for v in values):
        raise WEMDError(f"--proportions takes {len(names)} positive integers for "
                        f"{', '.join(names)}, e.g. 75,10,15; not {text!r}.")
    return dict(zip(names, values))
