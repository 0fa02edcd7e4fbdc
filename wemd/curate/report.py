"""What ``wemd info`` says about a curated dataset: counts, provenance, sources, rejections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wemd.catalog import DatasetSpec


def curated_info(spec: DatasetSpec) -> dict[str, Any]:
    """Counts on disk, provenance, how many source files were read, every rejected file and
    dropped frame with the reason, and the duplicate images that were kept in one split."""
    from wemd.manifest import read_manifest

    manifest = read_manifest(Path(spec.declared_at))
    gen = manifest.generator if manifest else {}
    sources = gen.get("sources", [])
    used = sum(1 for s in sources if isinstance(s, dict) and s.get("status") == "ok")
    return {
        "provenance": "curated",
        "made_by": f"{gen.get('tool', 'wemd curate')} (wemd {gen.get('wemd_version', '?')})",
        "source_files": f"{len(sources)} read, {used} used",
        "groups": len(gen.get("groups", {})),
        "duplicates": [f"{d.get('kind')} duplicate: {', '.join(map(str, d.get('items', [])))} "
                       f"-> {'/'.join(d.get('split', []))}" for d in gen.get("duplicates", [])
                       if isinstance(d, dict)],
        "rejected": [f"{r.get('path')}: {r.get('reason')}" for r in gen.get("rejected", [])
                     if isinstance(r, dict)],
        "dropped": [f"{r.get('path')}" + (f" frame {r['frame']}" if r.get("frame") is not None else "")
                    + f": {r.get('reason')}" for r in gen.get("dropped", []) if isinstance(r, dict)],
    }
