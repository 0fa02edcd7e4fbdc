"""Microscope files in their real formats, written by code for the curation tests: DM3/DM4
(tests/dmwriter.py), Velox and Berkeley EMD through h5py, MRC through mrcfile, TIFF through
tifffile, FEI TIA SER by a small writer that follows the format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.dmwriter import write_dm

__all__ = ["write_dm", "write_velox", "write_berkeley", "write_mrc", "write_tiff", "write_ser"]


def write_velox(path: Path, image: np.ndarray, frames: int = 1, *, voltage_v: float = 300e3,
                pixel_m: float = 2e-10, detector: str = "HAADF", magnification: float = 2e6) -> Path:
    """A Velox EMD file: ``Data/Image/{uuid}/Data`` [H, W, frames] with a JSON ``Metadata``
    column per frame, as Thermo Fisher's Velox writes it."""
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("Version", data=np.array([json.dumps({"format": "Velox", "version": 2}).encode()]))
        g = f.create_group("Data/Image/6fdbde41eecc4375b45cd86bd2be17c0")
        g.create_dataset("Data", data=np.repeat(image[:, :, None], frames, axis=2), chunks=True)
        md = {"BinaryResult": {"PixelSize": {"width": str(pixel_m), "height": str(pixel_m)},
                               "PixelUnitX": "m", "PixelUnitY": "m", "Detector": detector},
              "Optics": {"AccelerationVoltage": str(voltage_v)},
              "Acquisition": {"AcquisitionStartDatetime": {"DateTime": "1600000000"}},
              "CustomProperties": {"StemMagnification": {"value": str(magnification)}},
              "Scan": {"FrameTime": "1.0"}, "Instrument": {"InstrumentClass": "Titan"}}
        raw = np.frombuffer(json.dumps(md).encode(), np.uint8)
        column = np.zeros((raw.size + 16, frames), np.uint8)
        column[: raw.size] = raw[:, None]
        g.create_dataset("Metadata", data=column)
    return Path(path)


def write_berkeley(path: Path, data: np.ndarray, units: str = "nm", scale: float = 0.5) -> Path:
    """A Berkeley (NCEM) EMD file: a group with ``emd_group_type`` 1 holding ``data`` and one
    ``dimN`` vector per axis."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["version_major"], f.attrs["version_minor"] = 0, 2
        g = f.create_group("data/image")
        g.attrs["emd_group_type"] = 1
        g.create_dataset("data", data=data, chunks=True)
        for i, n in enumerate(data.shape):
            d = g.create_dataset(f"dim{i + 1}", data=np.arange(n) * scale)
            d.attrs["name"], d.attrs["units"] = "xyzw"[i], units
    return Path(path)


def write_mrc(path: Path, data: np.ndarray, voxel: float = 1.5) -> Path:
    import mrcfile

    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.asarray(data, np.float32))
        m.voxel_size = voxel
    return Path(path)


def write_tiff(path: Path, data: np.ndarray) -> Path:
    import tifffile

    tifffile.imwrite(path, data)
    return Path(path)


def write_ser(path: Path, image: np.ndarray, pixel_m: float = 1e-10) -> Path:
    """An FEI TIA ``.ser`` file holding one 2-D image (series version 0x0210: 4-byte offsets),
    with its header, one dimension record, the data and tag offset arrays, the image element
    (X/Y calibrations, data type, sizes, pixels) and a time tag, as TIA writes it."""
    import struct

    image = np.asarray(image, "<f4")
    desc, units = b"Number", b""
    dims = struct.pack("<IddII", 1, 0.0, 1.0, 0, len(desc)) + desc + struct.pack("<I", len(units)) + units
    header_len = 30 + len(dims)
    offsets_at = header_len
    data_at = offsets_at + 8
    h, w = image.shape
    element = (struct.pack("<ddI", 0.0, pixel_m, 0) + struct.pack("<ddI", 0.0, pixel_m, 0)
               + struct.pack("<HII", 7, w, h) + image[::-1].tobytes())  # rows bottom-up, x fastest
    tag_at = data_at + len(element)
    head = struct.pack("<HHHIIII", 0x4949, 0x0197, 0x0210, 0x4122, 0x4152, 1, 1)
    head += struct.pack("<II", offsets_at, 1)
    body = head + dims + struct.pack("<II", data_at, tag_at) + element + struct.pack("<HHI", 0x4152, 0, 0)
    Path(path).write_bytes(body)
    return Path(path)
