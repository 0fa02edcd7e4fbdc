"""HDF5 stores (h5py): ``wemd convert NAME OUT --to hdf5`` and ``source="hdf5"``.

One file ``OUT/{name}.h5`` per dataset, readable by any HDF5 tool (HyperSpy, MATLAB, h5dump)::

    /                       attribute "wemd": the store's JSON attributes (wemd.stores.common)
    /{split}/items          [N, *item_shape], chunked like the zarr store, compressed
    /{split}/images/{k}     one 2-D dataset per image (stem_full, varied shapes)
    /{split}/index          uint8: the item index (ids, digests, metadata) as JSON

Compression stays within what h5py ships: ``gzip`` (with byte shuffle; the default, because
every HDF5 reader decodes it), ``lzf`` (faster, h5py readers only) or ``none``. The file is
written beside its final name and renamed there after the ``wemd`` attribute (written last)
says ``complete: true``. HDF5 has no sharding: the zarr shard is the HDF5 chunk cache's unit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from wemd import catalog
from wemd.errors import CorruptFileError, require
from wemd.home import PathLike
from wemd.stores.common import (ItemIndex, StoreError, StoreSource,
                                cache_size, check_fingerprint, chunking, image_chunks,
                                manifest_of)

KIND = "hdf5"
CODECS = ("gzip", "lzf", "none")


def _filters(codec: str) -> dict[str, Any]:
    if codec not in CODECS:
        raise StoreError(f"unknown HDF5 codec {codec!r}; choose one of {', '.join(CODECS)}")
    return {"gzip": {"compression": "gzip", "compression_opts": 4, "shuffle": True},
            "lzf": {"compression": "lzf", "shuffle": True}, "none": {}}[codec]


def write_hdf5(ds_by_split: dict[str, Any], out: Path, codec: str, progress: bool) -> Path:
    """Write the loaded splits of one dataset into ``out/{name}.h5``."""
    h5py = require("h5py", "arrays")

    from wemd.files import atomic_path
    from wemd.stores.common import read_split, store_attrs

    first = next(iter(ds_by_split.values()))
    spec = first.spec
    filters = _filters(codec)
    plan = chunking(spec) if spec.item_shape is not None else None
    final = Path(out) / f"{spec.name}.h5"
    with atomic_path(final) as tmp:
        with h5py.File(tmp, "w") as f:
            fingerprints = {}
            for split, ds in ds_by_split.items():
                sub = f.create_group(split)
                index = ItemIndex([], [], [], [])
                items = None
                if plan is not None:
                    items = sub.create_dataset("items", shape=(len(ds),) + tuple(spec.item_shape),
                                               dtype=spec.dtype, **filters,
                                               chunks=(max(1, min(len(ds), plan.chunk[0])),)
                                               + plan.chunk[1:])
                buf: list[np.ndarray] = []
                for i, item, digest, data, meta in read_split(ds, progress):
                    if items is None:
                        sub.create_dataset(f"images/{i}", data=item,
                                           chunks=image_chunks(item.shape), **filters)
                    else:
                        buf.append(item)
                        if len(buf) == plan.batch or i == len(ds) - 1:
                            items[i + 1 - len(buf):i + 1] = np.stack(buf)
                            buf = []
                    index.ids.append(ds.item_id(i))
                    index.sha256.append(digest)
                    index.data_sha256.append(data)
                    index.meta.append(meta)
                sub.create_dataset("index", data=np.frombuffer(index.to_bytes(), np.uint8),
                                   compression="gzip", shuffle=False)
                fingerprints[split] = ds.fingerprint(digests=index.sha256)
            attrs = store_attrs(ds_by_split, codec, fingerprints, KIND, plan)
            f.attrs["wemd"] = json.dumps({**attrs, "complete": True})  # completion marker, last
    return final


class H5Source(StoreSource):
    """One split of an HDF5 store; the file opens lazily in each process (read-only)."""

    def __init__(self, spec: catalog.DatasetSpec, index: ItemIndex, where: str, split: str,
                 path: Path, batch: int, chunk: int):
        super().__init__(spec, index, where, split, batch)
        self.path, self._chunk = path, chunk
        self._file: Any = None

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_file": None}

    def chunk_items(self) -> int:
        return self._chunk

    def _open(self, what: str) -> Any:
        """``what`` of this split, refused if its data lies outside this file: an external
        link, external raw storage or a virtual dataset would make a read of a hostile store
        read (or block on) any file or device of this machine."""
        if self._file is None:
            self._file = open_h5(self.path)
        node = self._file[f"{self.split}/{what}"]
        if node.file.filename != self._file.filename or getattr(node, "external", None) \
                or getattr(node, "is_virtual", False):
            raise CorruptFileError(self.path, f"{self.split}/{what} points to data outside the "
                                   "file (an external link, external storage or a virtual "
                                   f"dataset); {self.read_fix()}")
        return node

    def files(self) -> list[Path]:
        return [self.path]


def open_h5(path: Path) -> Any:
    """An HDF5 file opened read-only, or an error naming it and the fix (truncated, not HDF5)."""
    h5py = require("h5py", "arrays")

    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise CorruptFileError(path, f"not a readable HDF5 file ({exc}; a truncated or partial "
                               "copy?)") from exc


def load_hdf5(name: str, split: str = "train", root: Optional[PathLike] = None,
              val_fold: Optional[int] = None, url: Optional[PathLike] = None,
              cache_mb: Optional[float] = None) -> Any:
    """``wemd.load(name, split, source="hdf5", url="OUT/NAME.h5")``: one split of an HDF5 store
    (``url="OUT"``, the folder convert wrote into, means ``OUT/NAME.h5``)."""
    from wemd.api import dataset_from_index
    from wemd.loaders.layouts import SplitIndex
    from wemd.stores.common import opened_store, wanted_splits

    if url is None:
        raise StoreError(f"source='hdf5' needs url= (the file written by `wemd convert {name} OUT "
                         f"--to hdf5`, OUT/{name}.h5).")
    if "://" in str(url).removeprefix("file://"):
        raise StoreError(f"source='hdf5' reads a local file, not {url}: copy the file here, or "
                         "use a zarr store (source='zarr') for object storage and HTTP.")
    path = Path(str(url).removeprefix("file://")).expanduser().absolute()
    if path.is_dir():  # the folder `wemd convert NAME OUT --to hdf5` wrote into
        path = path / f"{name}.h5"
    if not path.is_file():
        catalog.get(name)  # an unknown name: say so, with the closest names
        raise StoreError(f"No HDF5 store at {path}: write it with `wemd convert {name} "
                         f"{path.parent} --to hdf5`.")
    where = str(path)
    with open_h5(path) as f:
        raw = f.attrs.get("wemd")
        try:
            attrs = json.loads(raw) if isinstance(raw, (str, bytes)) else None
        except ValueError as exc:
            raise CorruptFileError(path, f"its 'wemd' attribute is not JSON ({exc})") from exc
        attrs, spec, split, batch, chunk = opened_store(attrs, name, split, where, KIND)
        sources = {}
        for s in wanted_splits(spec, split, val_fold, list(attrs["splits"]), name, where, KIND):
            src = H5Source(spec, ItemIndex([], [], [], []), where, s, path, batch, chunk)
            src._file = f
            src.index = src.read_index()
            check_fingerprint(spec, s, src, attrs)
            src.cache_bytes = cache_size(cache_mb)
            src._file = None  # this handle closes here; each process reopens the file
            sources[s] = src
    return dataset_from_index(spec, split, path, SplitIndex(sources, []), attrs["provenance"],
                              manifest_of(attrs), val_fold)


def _register() -> None:
    from wemd.api import register_source

    register_source(KIND, load_hdf5)


_register()
