"""The per-item metadata table of a curated dataset (``items.parquet``), read for ``ds.metadata``."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

ITEMS_TABLE = "items.parquet"


@functools.lru_cache(maxsize=8)
def _rows(path: str, mtime_ns: int, size: int) -> dict[str, dict[str, Any]]:
    import pandas as pd

    from wemd.errors import CorruptFileError

    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise CorruptFileError(Path(path), f"metadata table unreadable ({type(exc).__name__}: {exc})") from exc
    if "id" not in table.columns:
        raise CorruptFileError(Path(path), "metadata table has no 'id' column")
    out = {}
    for rec in table.to_dict("records"):
        out[str(rec["id"])] = {k: (None if isinstance(v, float) and math.isnan(v) else
                                   v.item() if hasattr(v, "item") else v) for k, v in rec.items()}
    return out


def item_row(folder: Path, item_id: str) -> dict[str, Any]:
    """The table's row of one item (source file, pixel size, voltage, ... group), or {} when the
    folder has no table or the item no row."""
    path = Path(folder) / ITEMS_TABLE
    try:
        st = path.stat()
    except OSError:
        return {}
    row = dict(_rows(str(path), st.st_mtime_ns, st.st_size).get(item_id, {}))
    row.pop("id", None)
    return row
