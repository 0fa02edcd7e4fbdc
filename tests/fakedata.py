"""Fake WEMD data made by code in the exact real layouts, for tests.

Every item encodes its global position (all values equal the position, so order mistakes show),
and a folder gets a ``wemd.json`` manifest declaring a subset with the counts it holds, unless the
test asks for real counts (then no manifest, as with data placed by hand).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import tifffile

from wemd import catalog
from wemd.manifest import Manifest, write_manifest

SMALL_COUNTS = {"train": 4, "val": 2, "test": 3}


def small_counts(name: str) -> dict[str, int]:
    return {s: SMALL_COUNTS.get(s, 3) for s in catalog.get(name).splits}


def _image(value: float, shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def _write_tiff(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array, compression="zlib" if array.size > 512 * 512 else None)


def make_dataset(name: str, home: Path, counts: Optional[dict[str, int]] = None,
                 layout: str = "default", manifest: bool = True, provenance: str = "subset") -> Path:
    """Write a fake copy of ``name`` under ``home/name`` and return that folder.

    layout: "default" (the first the catalog accepts, split folders where possible), "flat"
    (TIFFs without split folders), "per_split" (one .npy per split), "shared_meta"
    (wavefunction metadata in one meta/ folder with global indices).
    """
    spec = catalog.get(name)
    counts = counts or small_counts(name)
    folder = Path(home) / name
    folder.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0] + list(counts.values()))
    starts = dict(zip(counts, offsets[:-1].tolist()))
    writer = {"tiff_dir": _tiff, "npy_array": _npy, "wavefunction_dir": _waves,
              "series_dir": _series, "cif_dir": _cifs}[spec.layouts[0]]
    writer(spec, folder, counts, starts, layout)
    if manifest:
        write_manifest(folder, Manifest(dataset=name, provenance=provenance, splits=dict(counts)))
    return folder


def _tiff(spec, folder, counts, starts, layout):
    for split, n in counts.items():
        for k in range(n):
            g = starts[split] + k
            shape = spec.item_shape or (20 + g % 7, 30 + g % 5)
            if layout == "flat":
                _write_tiff(folder / f"{g}.tif", _image(g, shape))
            else:
                sub = "validation" if split == "val" else split
                _write_tiff(folder / sub / f"{k}.tif", _image(g, shape))


def _npy(spec, folder, counts, starts, layout):
    total = sum(counts.values())
    if layout == "per_split":
        for split, n in counts.items():
            rows = np.arange(starts[split], starts[split] + n, dtype=np.float32)
            np.save(folder / f"{split}.npy",
                    np.broadcast_to(rows[:, None, None, None], (n,) + spec.item_shape).copy())
        return
    arr = np.lib.format.open_memmap(folder / f"{spec.name}.npy", mode="w+", dtype=np.float32,
                                    shape=(total,) + spec.item_shape)
    if total <= 100_000 // 1 and total * np.prod(spec.item_shape) <= 50_000_000:
        arr[:] = np.arange(total, dtype=np.float32)[:, None, None, None]
    else:  # real-count arrays stay sparse on disk: mark the first row of each split only
        for s in counts:
            arr[starts[s]] = starts[s]
    arr.flush()
    del arr


def _waves(spec, folder, counts, starts, layout):
    for split, n in counts.items():
        for k in range(n):
            g = starts[split] + k
            (folder / split).mkdir(parents=True, exist_ok=True)
            wave = np.full(spec.item_shape, g + 1j, dtype=np.complex64)
            idx = g if layout == "shared_meta" else k  # shared meta/ needs global indices
            np.save(folder / split / f"{idx}.npy", wave)
            meta_dir = folder / "meta" if layout == "shared_meta" else folder / split / "meta"
            meta_dir.mkdir(parents=True, exist_ok=True)
            cif = f"{1000000 + g}"
            (meta_dir / f"{idx}-{cif}.json").write_text(json.dumps(
                {"cif": cif, "journal": "Inorganic Chemistry", "voltage_kv": 200, "depth_nm": 5.0 + g}))


def _series(spec, folder, counts, starts, layout):
    n = sum(counts.values())
    for g in range(n):
        frames = np.stack([_image(g + f / 100, spec.item_shape[1:]) for f in range(spec.item_shape[0])])
        for f, frame in enumerate(frames):
            _write_tiff(folder / f"{g}" / f"{f}.tif", frame)


JOURNALS = {"train": "Inorganic Chemistry", "val": "Physics and Chemistry of Minerals",
            "test": "Chemistry of Materials"}


def cif_text(cod_id: str, journal: str, element: str = "Si", a: float = 5.431) -> str:
    return f"""data_{cod_id}
_journal_name_full '{journal}'
_cod_database_code {cod_id}
_symmetry_space_group_name_H-M 'P 1'
_cell_length_a {a}
_cell_length_b {a}
_cell_length_c {a}
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
{element}1 {element} 0.0 0.0 0.0
{element}2 {element} 0.5 0.5 0.5
"""


def _cifs(spec, folder, counts, starts, layout):
    urls = []
    (folder / "cifs").mkdir(parents=True, exist_ok=True)
    for split, n in counts.items():
        for k in range(n):
            cod = str(1000000 + starts[split] + k)
            (folder / "cifs" / f"{cod}.cif").write_text(cif_text(cod, JOURNALS[split]))
            urls.append(f"https://cod.example/cif/{cod}.cif")
    (folder / "urls.txt").write_text("\n".join(urls) + "\n")
