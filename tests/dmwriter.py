"""A small writer of Gatan DigitalMicrograph DM3/DM4 files, for tests (no library writes them).

It follows the format as Gatan's files have it: a big-endian header (version, file length,
byte order), a tree of tag groups and data tags, each data tag a ``%%%%`` delimiter, an
"info array" saying its type (simple, string, array, struct) and the data in little-endian
order. DM4 widens lengths and counts to 8 bytes and gives every tag its byte size after its
name. Strings are arrays of 16-bit characters, as DigitalMicrograph writes them; the image is
``ImageList/TagGroup1/ImageData`` (``TagGroup0`` is the thumbnail, named under ``Thumbnails``).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Optional

import numpy as np

#: numpy dtype -> (DM tag element type, DM image DataType)
_IMAGE_TYPES = {np.dtype("int16"): (2, 1), np.dtype("float32"): (6, 2), np.dtype("uint8"): (10, 6),
                np.dtype("int32"): (3, 7), np.dtype("uint16"): (4, 10), np.dtype("uint32"): (5, 11),
                np.dtype("float64"): (7, 12)}
_ELEM_FMT = {2: "h", 3: "i", 4: "H", 5: "I", 6: "f", 7: "d", 8: "?", 10: "b"}


class Array:
    """A data tag holding a numeric array (image data)."""

    def __init__(self, data: np.ndarray):
        self.data = np.ascontiguousarray(data)


def _length(version: int) -> str:
    return ">q" if version == 4 else ">i"


def _data_tag(value: Any, version: int) -> bytes:
    L = _length(version)
    if isinstance(value, Array):
        enc = _IMAGE_TYPES[value.data.dtype][0]
        info = [20, enc, value.data.size]
        payload = value.data.astype(value.data.dtype.newbyteorder("<")).tobytes()
    elif isinstance(value, str):
        chars = np.frombuffer(value.encode("utf-16-le"), "<u2")
        info, payload = [20, 4, chars.size], chars.tobytes()
    elif isinstance(value, bool):
        info, payload = [8], struct.pack("<?", value)
    elif isinstance(value, int):
        info, payload = [3], struct.pack("<i", value)
    elif isinstance(value, float):
        info, payload = [7], struct.pack("<d", value)
    else:
        raise TypeError(f"no DM tag type for {type(value).__name__}")
    body = b"%%%%" + struct.pack(L, len(info)) + b"".join(struct.pack(L, v) for v in info) + payload
    return body


def _group(tags: dict[str, Any], version: int) -> bytes:
    """A tag group; keys that are blank (distinct only to keep the dict unique) are written unnamed."""
    L = _length(version)
    out = [b"\x00\x01" + struct.pack(L, len(tags))]  # not sorted, open, number of tags
    for name, value in tags.items():
        key = b"" if not name.strip() else name.encode("latin-1")  # list entries are unnamed
        if isinstance(value, dict):
            body, kind = _group(value, version), 20
        else:
            body, kind = _data_tag(value, version), 21
        head = struct.pack(">BH", kind, len(key)) + key
        if version == 4:
            head += struct.pack(">q", len(body))
        out.append(head + body)
    return b"".join(out)


def dm_image_tags(image: np.ndarray, *, scale: float = 0.1, units: str = "nm",
                  voltage_v: Optional[float] = 200000.0, magnification: Optional[float] = None,
                  operator: Optional[str] = None, specimen: Optional[str] = None,
                  date: Optional[str] = None, time: Optional[str] = None,
                  illumination: str = "STEM", signal: Optional[str] = None,
                  counts_scale: float = 1.0, counts_units: str = "") -> dict[str, Any]:
    """The tag tree of a DM file holding ``image`` (2-D, a [frames, H, W] stack or a 1-D
    spectrum), with the calibrations and microscope tags DigitalMicrograph writes."""
    image = np.asarray(image)
    dims = image.shape[::-1]  # DM lists the fastest axis first
    dim_cal = {f"TagGroup{i}": {"Origin": 0.0, "Scale": float(scale), "Units": units}
               for i in range(len(dims))}
    tags: dict[str, Any] = {}
    if voltage_v is not None or magnification is not None:
        info: dict[str, Any] = {"Illumination Mode": illumination}
        if voltage_v is not None:
            info["Voltage"] = float(voltage_v)
        if magnification is not None:
            info["Indicated Magnification"] = float(magnification)
        tags["Microscope Info"] = info
    session = {k: v for k, v in (("Operator", operator), ("Specimen", specimen)) if v}
    if session:
        tags["Session Info"] = session
    if date or time:
        tags["DataBar"] = {k: v for k, v in (("Acquisition Date", date), ("Acquisition Time", time)) if v}
    if signal:
        tags["Meta Data"] = {"Signal": signal, "Format": "Spectrum" if image.ndim == 1 else "Image"}
    thumb = np.zeros((4, 4), np.uint8)
    return {
        "ApplicationBounds": Array(np.array([0, 0, 512, 512], np.int32)),
        "ImageList": {
            "": {"ImageData": {"Calibrations": {"Brightness": {"Origin": 0.0, "Scale": 1.0, "Units": ""},
                                                "Dimension": {"TagGroup0": {"Origin": 0.0, "Scale": 1.0, "Units": ""},
                                                              "TagGroup1": {"Origin": 0.0, "Scale": 1.0, "Units": ""}}},
                               "Data": Array(thumb), "DataType": _IMAGE_TYPES[thumb.dtype][1],
                               "Dimensions": {"": 4, " ": 4}},
                 "ImageTags": {}, "Name": "thumbnail"},
            " ": {"ImageData": {"Calibrations": {"Brightness": {"Origin": 0.0, "Scale": float(counts_scale),
                                                                "Units": counts_units},
                                                 "Dimension": dim_cal},
                                "Data": Array(image), "DataType": _IMAGE_TYPES[image.dtype][1],
                                "Dimensions": {" " * (i + 1): int(d) for i, d in enumerate(dims)}},
                  "ImageTags": tags, "Name": "image"},
        },
        "Thumbnails": {"": {"ImageIndex": 0}},
    }


def write_dm(path: Path, image: np.ndarray, version: int = 3, *,
             image_tags: Optional[dict[str, Any]] = None, **kw: Any) -> Path:
    """Write ``image`` as a DM3 (``version=3``) or DM4 file with the tags of :func:`dm_image_tags`
    (and ``image_tags`` added to the image's ``ImageTags``, e.g. a huge tag tree)."""
    tags = dm_image_tags(image, **kw)
    tags["ImageList"][" "]["ImageTags"].update(image_tags or {})
    body = _group(tags, version)
    L = _length(version)
    data = body + b"\x00" * 8
    header = struct.pack(">i", version) + struct.pack(L, len(data) + 4) + struct.pack(">i", 1)
    Path(path).write_bytes(header + data)
    return Path(path)
