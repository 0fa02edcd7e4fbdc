"""Structured fake data for the task, evaluator and baseline tests.

``tests.fakedata.make_dataset`` writes the real on-disk layout with constant items; here each
item is then overwritten with a structured image (an atomic lattice on a smooth random
background), so denoisers and interpolators have something to do. Items are smaller than the
published sizes where the tests use a non-standard, smaller crop.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tifffile

import wemd
from tests.fakedata import make_dataset

#: (dataset, split) -> item side used by the tests (published sizes where cheap enough)
SIZES = {"tem_full": 256, "stem_crops": 128, "stem_crops_96x96": 96}


def structured(size: int, rng: np.random.Generator, periods: tuple[float, float] = (8, 16)) -> np.ndarray:
    """A positive TEM/STEM-like image: lattice fringes of random period and angle + smooth field."""
    from scipy.ndimage import gaussian_filter

    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    period, angle = rng.uniform(*periods), rng.uniform(0, np.pi)
    k = 2 * np.pi / period
    a = k * (x * np.cos(angle) + y * np.sin(angle))
    b = k * (-x * np.sin(angle) + y * np.cos(angle))
    lattice = (np.cos(a) + np.cos(b) + 2) / 4
    field = gaussian_filter(rng.normal(size=(size, size)), size / 16)
    field = (field - field.min()) / (np.ptp(field) + 1e-12)
    return (0.2 + 0.5 * lattice * (0.5 + field) + 0.3 * field).astype(np.float32)


def make_structured(name: str, home: Path, counts: dict[str, int], seed: int = 0) -> Path:
    """Fake ``name`` in its real layout, every item replaced by a structured image or wave."""
    folder = make_dataset(name, home, counts=counts)
    rng = np.random.default_rng(seed)
    spec = wemd.spec(name)
    if spec.family == "wavefunctions":
        for f in sorted(folder.glob("*/[0-9]*.npy")):
            amp = 1 + 0.3 * structured(320, rng)
            phase = 2 * np.pi * structured(320, rng) - np.pi
            np.save(f, (amp * np.exp(1j * phase)).astype(np.complex64))
        for k, f in enumerate(sorted(folder.glob("*/meta/*.json"))):
            meta = json.loads(f.read_text())
            meta.update(voltage_kv=(80, 200, 300)[k % 3], depth_nm=5 + 30 * (k % 3), zone=[0, 0, 1])
            f.write_text(json.dumps(meta))
    elif spec.layouts[0] == "npy_array":
        arr = np.load(folder / f"{name}.npy", mmap_mode="r+")
        for i in range(arr.shape[0]):
            arr[i, ..., 0] = structured(arr.shape[1], rng)
        arr.flush()
    else:
        for f in sorted(folder.glob("*/*.tif")):
            tifffile.imwrite(f, structured(SIZES[name], rng, (16, 32) if name == "tem_full" else (8, 16)))
    return folder


def test_structured_items_load_in_the_real_layout(home):
    make_structured("tem_full", home, {"train": 1, "val": 1, "test": 2})
    make_structured("wavefunctions", home, {"train": 1, "val": 1, "test": 2})
    tem = wemd.load("tem_full", "test")
    assert tem[0].shape == (256, 256) and tem[0].std() > 0.01 and tem.provenance == "subset"
    waves = wemd.load("wavefunctions", "test")
    assert waves[1].dtype == np.complex64 and waves.metadata(1)["voltage_kv"] in (80, 200, 300)
