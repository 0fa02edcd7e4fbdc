"""How one dataset's items are stored in the rows of an export, and read back bit for bit.

Each encoding class owns, for the datasets it serves: the ``datasets`` Features of its data
columns, ``encode`` (native item -> row values), ``decode`` (row -> native item, identical bytes),
the metadata its extra columns carry, and the Croissant fields that describe those columns.
``encoding_for(spec)`` picks one from catalog facts; nothing else branches per family.

Every row also carries ``COMMON_FIELDS``: the native item ``id``, its native ``sha256`` digest
(so the loaded split has the native fingerprint), ``data_sha256``, the digest of the item itself
(which the reader recomputes from the decoded row, so an edited row is caught), and its
``provenance``, which no copy can lose.
Text columns are plain strings (not ``Json``) so older ``datasets`` releases read the files too.
Importing this module does not import ``datasets``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Optional

import numpy as np

from wemd.catalog import DatasetSpec
from wemd.errors import require


class Field(NamedTuple):
    """One column of an export as Croissant describes it (``shape``: of an array column)."""

    column: str
    data_type: str
    description: str
    shape: Optional[tuple[int, ...]] = None


#: Columns every row carries, whatever the encoding (all ``Value("string")``).
COMMON_FIELDS = (
    Field("id", "sc:Text", "the item's id in the native layout (file or array row)"),
    Field("sha256", "sc:Text", "sha256 of the item's stored content (native digest: its file, or "
          "its array row)"),
    Field("data_sha256", "sc:Text", "sha256 of the decoded item: its array's bytes in C order, or "
          "its text as UTF-8"),
    Field("provenance", "sc:Text", "real, subset, synthetic or simulated"),
)

#: Assumed size of one item whose size the catalog does not fix; it sets rows per shard and per
#: row group, so changing it changes the exported bytes.
VARIED_ITEM_BYTES = 4 << 20


class Encoding:
    """Base class: one way of storing a dataset's items; subclasses are frozen dataclasses."""

    column: str
    #: extra columns whose values ``metadata`` turns into item metadata
    meta_columns: ClassVar[tuple[str, ...]] = ()

    @property
    def stored_shape(self) -> Optional[tuple[int, ...]]:
        """Shape of the fixed-size float32 array each row stores (None: rows hold no such array).

        Readers may view such a column's Arrow buffers directly and pass ``decode`` a batch.
        """
        return None

    @property
    def item_bytes(self) -> int:
        """About how many bytes one item takes (sizes shards and row groups)."""
        raise NotImplementedError

    def data_features(self, ds: Any) -> dict[str, Any]:
        """The Features of the data columns (``ds``: the ``datasets`` module)."""
        raise NotImplementedError

    def features(self) -> Any:
        """The full ``datasets.Features`` of a row: the common columns, then the data columns."""
        ds = require("datasets", "hf")
        cols: dict[str, Any] = {f.column: ds.Value("string") for f in COMMON_FIELDS}
        cols.update(self.data_features(ds))
        return ds.Features(cols)

    def encode(self, item: Any, meta: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """The data column values of one native item (``meta``: its native metadata)."""
        raise NotImplementedError

    def decode(self, row: dict[str, Any]) -> Any:
        """The native item of a row (array columns may hold a batch of rows)."""
        raise NotImplementedError

    def metadata(self, row: dict[str, Any]) -> dict[str, Any]:
        """The item metadata held by a row's ``meta_columns``."""
        return {c: row[c] for c in self.meta_columns}

    def fields(self) -> list[Field]:
        """The Croissant fields of the data columns."""
        raise NotImplementedError


def _array_feature(ds: Any, shape: tuple[int, ...]) -> Any:
    return {2: ds.Array2D, 3: ds.Array3D, 4: ds.Array4D}[len(shape)](shape=shape, dtype="float32")


@dataclass(frozen=True)
class FloatArray(Encoding):
    """Float32 items of one fixed shape (96x96 crops, two-channel wave crops, focal series):
    an ``Array2D/3D/4D`` float32 column of the item shape."""

    column: str
    shape: tuple[int, ...]

    @property
    def stored_shape(self) -> tuple[int, ...]:
        return self.shape

    @property
    def item_bytes(self) -> int:
        return 4 * math.prod(self.shape)

    def data_features(self, ds: Any) -> dict[str, Any]:
        return {self.column: _array_feature(ds, self.shape)}

    def encode(self, item: Any, meta: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        return {self.column: np.asarray(item, dtype=np.float32)}

    def decode(self, row: dict[str, Any]) -> Any:
        return np.asarray(row[self.column], dtype=np.float32)

    def fields(self) -> list[Field]:
        return [Field(self.column, "cr:Float32", f"float32 array {self.shape}", self.shape)]


@dataclass(frozen=True)
class ComplexWave(Encoding):
    """complex64 exit wavefunctions: an ``ArrayND`` float32 column of the item shape + (2,), real
    then imaginary part (a complex64 is exactly two float32), plus ``meta``, the simulation record
    as JSON text."""

    column: str
    shape: tuple[int, ...]
    meta_columns: ClassVar[tuple[str, ...]] = ("meta",)

    @property
    def stored_shape(self) -> tuple[int, ...]:
        return self.shape + (2,)

    @property
    def item_bytes(self) -> int:
        return 8 * math.prod(self.shape)

    def data_features(self, ds: Any) -> dict[str, Any]:
        return {self.column: _array_feature(ds, self.stored_shape), "meta": ds.Value("string")}

    def encode(self, item: Any, meta: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        pair = np.ascontiguousarray(np.asarray(item, dtype=np.complex64)).view(np.float32)
        path = (meta or {}).get("meta_path")
        return {self.column: pair.reshape(item.shape + (2,)),
                "meta": Path(path).read_text() if path else None}

    def decode(self, row: dict[str, Any]) -> Any:
        return np.ascontiguousarray(row[self.column], dtype=np.float32).view(np.complex64)[..., 0]

    def metadata(self, row: dict[str, Any]) -> dict[str, Any]:
        """The simulation record, parsed (empty if the row has none); ValueError if it is not a
        JSON object."""
        record = json.loads(row["meta"]) if row.get("meta") else {}
        if not isinstance(record, dict):
            raise ValueError(f"'meta' must be a JSON object {{...}}, not a {type(record).__name__}")
        return record

    def fields(self) -> list[Field]:
        return [Field(self.column, "cr:Float32", "complex64 exit wavefunction as float32 (..., 2): "
                      "real, imaginary", self.stored_shape),
                Field("meta", "sc:Text", "simulation record (JSON text)")]


@dataclass(frozen=True)
class RawFloatImage(Encoding):
    """Float32 TIFF images (full images, 512x512 crops; sizes may vary): ``image`` holds the raw
    little-endian float32 bytes and ``shape`` the (height, width). Lossless with no codec in the
    way (PIL's float-TIFF support and ``Image()`` mode casts are not), decoded with one
    ``np.frombuffer``, and Parquet compresses the bytes."""

    column: str
    shape: Optional[tuple[int, ...]] = None  # the catalog's shape, None where sizes vary

    @property
    def item_bytes(self) -> int:
        return VARIED_ITEM_BYTES if self.shape is None else 4 * math.prod(self.shape)

    def data_features(self, ds: Any) -> dict[str, Any]:
        return {self.column: ds.Value("binary"), "shape": ds.List(ds.Value("int32"), length=2)}

    def encode(self, item: Any, meta: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        arr = np.asarray(item, dtype="<f4")
        return {self.column: np.ascontiguousarray(arr).tobytes(), "shape": list(arr.shape)}

    def decode(self, row: dict[str, Any]) -> Any:
        return np.frombuffer(row[self.column], dtype="<f4").reshape(tuple(row["shape"])).astype(np.float32)

    def fields(self) -> list[Field]:
        # a binary column: sc:Text is the type readers hand over as bytes, unconverted
        return [Field(self.column, "sc:Text", "row-major little-endian float32 bytes of one image: "
                      "numpy.frombuffer(value, '<f4').reshape(shape)"),
                Field("shape", "cr:Int32", "(height, width)", (2,))]


@dataclass(frozen=True)
class CifText(Encoding):
    """CIF files: the file's text plus its COD id, journal and URL (all strings)."""

    column: str
    meta_columns: ClassVar[tuple[str, ...]] = ("cod_id", "journal", "url")

    @property
    def item_bytes(self) -> int:
        return VARIED_ITEM_BYTES  # what exports have always assumed for texts

    def data_features(self, ds: Any) -> dict[str, Any]:
        return {c: ds.Value("string") for c in (self.column,) + self.meta_columns}

    def encode(self, item: Any, meta: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        meta = meta or {}
        return {self.column: item, **{c: meta.get(c) for c in self.meta_columns}}

    def decode(self, row: dict[str, Any]) -> Any:
        return row[self.column]

    def fields(self) -> list[Field]:
        return [Field(self.column, "sc:Text", "the CIF file's text"),
                Field("cod_id", "sc:Text", "COD id"),
                Field("journal", "sc:Text", "journal of publication"),
                Field("url", "sc:URL", "COD address of the CIF")]


#: The data column's name per family (others: "image").
DATA_COLUMN = {"wavefunctions": "wavefunction", "cifs": "cif"}
#: Families whose 2-D items are float32 TIFFs, exported as raw bytes like the varied-size images.
TIFF_FAMILIES = ("stem", "tem")


def encoding_for(spec: DatasetSpec) -> Encoding:
    """The encoding of ``spec``'s items; the first rule that matches wins:

    1. ``dtype`` str (cifs) -> ``CifText``
    2. ``dtype`` complex64 (wavefunctions*) -> ``ComplexWave``
    3. no fixed ``item_shape`` (stem_full) -> ``RawFloatImage``
    4. a 2-D ``item_shape`` in a TIFF family (stem_crops, tem_full) -> ``RawFloatImage``
    5. any other fixed shape (*_96x96, wavefunctions_96x96*, focal_series) -> ``FloatArray``
    """
    column = DATA_COLUMN.get(spec.family, "image")
    if spec.dtype == "str":
        return CifText(column)
    if spec.dtype == "complex64":
        return ComplexWave(column, tuple(spec.item_shape))
    if spec.item_shape is None:
        return RawFloatImage(column)
    shape = tuple(spec.item_shape)
    if len(shape) == 2 and spec.family in TIFF_FAMILIES:
        return RawFloatImage(column, shape)
    return FloatArray(column, shape)


def features(spec: DatasetSpec) -> Any:
    """The ``datasets.Features`` of one dataset's export."""
    return encoding_for(spec).features()
