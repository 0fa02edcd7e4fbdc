"""pandas tables of datasets and items: :func:`catalog_frame` (one row per dataset) and
:func:`metadata_frame` (one row per item of a loaded split, ``ds.metadata_frame()``).

Columns are typed (pandas nullable dtypes: ``string``, ``Int64``, ``Float64``; ``split`` is a
category) so a filter or a join behaves the same on every machine. Item metadata is what the
loader knows about each item (its id, split, position, file or row, a wavefunction's simulation
record, nested keys flattened with ``.``), joined with the per-item sidecar a synthetic build
writes (``synthetic_items.json``: contributor, kind, zone, ...). The columns a family has are
also given under one name each: ``contributor``, ``cif``, ``formula``, ``journal``,
``voltage_kv``, ``depth_nm``, ``zone_axis``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from wemd import catalog
from wemd.errors import CorruptFileError, WEMDError, require
from wemd.home import PathLike

#: Canonical columns, filled from a nested key of the same last name where the family has one.
CANONICAL = ("contributor", "cif", "formula", "journal", "voltage_kv", "depth_nm", "zone_axis")
#: Bound on the sidecar a folder may carry (it is read whole).
MAX_SIDECAR_BYTES = 256 << 20


def _sidecar(ds: Any) -> dict[Any, dict]:
    """The synthetic build's per-item records of a native folder, by id and by array row."""
    from wemd.synthetic.builder import ITEMS_FILE

    path = Path(ds.root) / ITEMS_FILE
    if ds.source.files() == [] or not path.is_file():
        return {}
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        raise CorruptFileError(path, f"larger than {MAX_SIDECAR_BYTES} bytes")
    try:
        records = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CorruptFileError(path, f"per-item records unreadable ({exc})") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise CorruptFileError(path, "per-item records must be a JSON list of objects")
    out: dict[Any, dict] = {}
    for r in records:
        if isinstance(r.get("id"), str):
            out[("id", r["id"])] = r
        if isinstance(r.get("row"), int):
            out[("row", r["row"])] = r
    return out


def item_records(ds: Any) -> list[dict[str, Any]]:
    """Every item's metadata (``ds.metadata(i)``) joined with its sidecar record, if any."""
    side = _sidecar(ds)
    out = []
    for i in range(len(ds)):
        meta = ds.metadata(i)
        extra = side.get(("id", meta.get("id"))) or side.get(("row", meta.get("row"))) or {}
        out.append({**{k: v for k, v in extra.items() if k not in ("id", "row")}, **meta})
    return out


#: pandas' inferred kind of a column -> the nullable dtype it gets (lists, dicts stay objects).
_TYPES = {"string": "string", "integer": "Int64", "floating": "Float64",
          "mixed-integer-float": "Float64", "boolean": "boolean", "empty": "string"}


def records_frame(records: list[dict[str, Any]]) -> Any:
    """A typed DataFrame of metadata records (nested keys flattened, canonical columns added)."""
    pd = require("pandas", "arrays")

    df = pd.json_normalize(records) if records else pd.DataFrame({"id": pd.Series(dtype=str)})
    for name in CANONICAL:
        if name not in df.columns:
            nested = [c for c in df.columns if c.endswith(f".{name}")]
            if nested:
                df[name] = df[nested[0]]
    for col in df.columns:
        kind = _TYPES.get(pd.api.types.infer_dtype(df[col], skipna=True))
        if kind:
            df[col] = df[col].astype(kind)
    if "split" in df.columns:
        df["split"] = df["split"].astype("category")
    return df


def metadata_frame(ds: Any) -> Any:
    """One typed row per item of a loaded split (see the module docstring)."""
    return records_frame(item_records(ds))


def catalog_frame(root: Optional[PathLike] = None) -> Any:
    """One row per catalog dataset: family, split counts, item shape and dtype, bytes per item
    and in all (fixed shapes; ``approx_size`` otherwise), layouts, partition, provenance (the
    paper, what it derives from) and, where a copy is in the data home (``root``), its
    provenance there (``real`` when placed by hand without a manifest)."""
    pd = require("pandas", "arrays")

    from wemd.home import dataset_dir
    from wemd.manifest import read_manifest

    rows = []
    for name, spec in catalog.CATALOG.items():
        fixed = spec.item_shape is not None and spec.dtype != "str"
        item_bytes = int(np.prod(spec.item_shape)) * np.dtype(spec.dtype).itemsize if fixed else None
        folder = dataset_dir(name, root)
        local = None
        if folder.is_dir() and any(folder.iterdir()):
            try:
                manifest = read_manifest(folder)
                local = manifest.provenance if manifest else "real"
            except WEMDError:  # a malformed manifest: say so in the table, not raise
                local = "unreadable manifest"
        rows.append({
            "name": name, "family": spec.family, "description": spec.description,
            **{f"n_{s}": spec.splits.get(s) for s in catalog.SPLIT_ORDER},
            "n_all": spec.splits.get("all"), "total": spec.total,
            "item_shape": "x".join(map(str, spec.item_shape)) if spec.item_shape else "varied",
            "dtype": spec.dtype, "item_bytes": item_bytes,
            "total_bytes": item_bytes * spec.total if item_bytes else None,
            "approx_size": spec.approx_size or None, "layouts": ", ".join(spec.layouts),
            "partition": spec.partition, "derived_from": spec.derived_from,
            "physics": spec.physics, "paper": spec.paper["title"], "paper_doi": spec.paper.get("doi"),
            "data_doi": catalog.DATA_DOI, "license": catalog.LICENSE,
            "catalog_version": catalog.CATALOG_VERSION,
            "discrepancies": len(spec.discrepancies), "local_provenance": local,
        })
    df = pd.DataFrame(rows).convert_dtypes()
    for col in ("n_train", "n_val", "n_test", "n_all", "item_bytes", "total_bytes"):
        df[col] = df[col].astype("Int64")
    return df
