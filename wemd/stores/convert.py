"""``wemd convert``: copy the splits of one dataset into a zarr v3 or HDF5 store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from wemd import catalog
from wemd.errors import DataMissingError
from wemd.home import PathLike
from wemd.stores.common import StoreError

FORMATS = ("zarr", "hdf5")
DEFAULT_CODEC = {"zarr": "zstd", "hdf5": "gzip"}


def convert(name: str, out: PathLike, to: str = "zarr", *, split: Optional[str] = None,
            codec: Optional[str] = None, root: Optional[PathLike] = None, source: str = "local",
            overwrite: bool = False, progress: bool = True, **load_kwargs: Any) -> Path:
    """Write ``name`` (every split on disk, or ``split``) as a store under ``out``; returns it.

    The store is ``out/{name}`` (zarr, a group in the store folder ``out``) or
    ``out/{name}.h5`` (HDF5). An existing store of ``name`` there is replaced only with
    ``overwrite``. Items are read once through the native loader (``source``, ``root``).
    """
    import wemd
    from wemd.stores import hdf5_store, zarr_store

    if to not in FORMATS:
        raise StoreError(f"unknown store format {to!r}; choose one of {', '.join(FORMATS)}")
    codecs = zarr_store.CODECS if to == "zarr" else hdf5_store.CODECS
    codec = codec or DEFAULT_CODEC[to]
    if codec not in codecs:  # before anything is read
        raise StoreError(f"unknown {to} codec {codec!r}; choose one of {', '.join(codecs)}")
    spec = catalog.get(name, root)  # root: where a curated dataset is declared
    if spec.dtype == "str":
        raise StoreError(f"{name} holds text (CIFs), not arrays: it has no {to} store; read it "
                         "with wemd.load.")
    out = Path(out).expanduser()
    target = out / name if to == "zarr" else out / f"{name}.h5"
    if target.exists() and not overwrite:
        raise StoreError(f"{target} exists; delete it or pass overwrite=True (--overwrite).")
    splits = [catalog.canonical_split(spec, split)] if split else list(spec.splits)
    ds_by_split = {}
    for s in splits:
        try:
            ds_by_split[s] = wemd.load(name, s, root=root, source=source, **load_kwargs)
        except DataMissingError:
            if split:
                raise
    if not ds_by_split:
        raise DataMissingError(name, Path(str(root or "")), "No split of it is on disk; see "
                               f"`wemd path {name}`.")
    write = zarr_store.write_zarr if to == "zarr" else hdf5_store.write_hdf5
    return write(ds_by_split, out, codec, progress)
