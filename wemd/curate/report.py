"""What ``wemd info`` says about a curated dataset: counts, provenance, sources, rejections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wemd.catalog import DatasetSpec


def proportions_text(counts: dict[str, int], asked: Any) -> str:
    """Split shares as made against those asked for (whole groups move together, so few or
    lumpy groups can stray far from them)."""
    total = sum(counts.values()) or 1
    made = ":".join(f"{round(100 * n / total)}" for n in counts.values())
    wanted = ":".join(map(str, asked)) if isinstance(asked, (list, tuple)) else "?"
    return f"{made} % of items by split (asked {wanted}; whole groups move together)"


def curated_info(spec: DatasetSpec) -> dict[str, Any]:
    """Counts on disk, provenance, how many source files were read, every rejected file and
    dropped frame with the reason, and the duplicate images that were kept in one split."""
    from wemd.manifest import read_manifest

    manifest = read_manifest(Path(spec.declared_at))
    gen = manifest.generator if manifest else {}
    sources = gen.get("sources", [])
    used = sum(1 for s in sources if isinstance(s, dict) and s.get("status") == "ok")
    dups: dict[tuple, tuple[list[str], list]] = {}  # one line per item set, kinds joined
    for d in gen.get("duplicates", []):
        if isinstance(d, dict):
            kinds, split = dups.setdefault(tuple(map(str, d.get("items", []))), ([], d.get("split", [])))
            kinds.append(str(d.get("kind")))
    return {
        "paper": None,  # the WEMD paper is the method, not the source (see method_paper)
        "method_paper": spec.paper.get("title"),
        "provenance": "curated",
        "made_by": f"{gen.get('tool', 'wemd curate')} (wemd {gen.get('wemd_version', '?')})",
        "source_files": f"{len(sources)} read, {used} used",
        "groups": len(gen.get("groups", {})),
        "proportions": proportions_text(spec.splits, (gen.get("rules") or {}).get("proportions")),
        "duplicates": [f"{'+'.join(kinds)} duplicate: {', '.join(items)} -> {'/'.join(split)}"
                       for items, (kinds, split) in dups.items()],
        "rejected": [f"{r.get('path')}: {r.get('reason')}" for r in gen.get("rejected", [])
                     if isinstance(r, dict)],
        "dropped": [f"{r.get('path')}" + (f" frame {r['frame']}" if r.get("frame") is not None else "")
                    + f": {r.get('reason')}" for r in gen.get("dropped", []) if isinstance(r, dict)],
    }
