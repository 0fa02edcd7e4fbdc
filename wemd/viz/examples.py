"""The figure of examples: one panel per dataset, as ``wemd quickstart`` writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from wemd import catalog
from wemd.home import PathLike


def _show(ax: Any, image: np.ndarray, title: str, cmap: str = "gray") -> None:
    lo, hi = np.percentile(image, [0.5, 99.5])
    ax.imshow(image, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
    ax.set_title(title, fontsize=6.5)
    ax.set_xticks([])
    ax.set_yticks([])


def _pick(ds: Any) -> int:
    """The item to show: the first atomic-resolution image of the split when the build's
    item list says which, else item 0."""
    import json

    from wemd.synthetic import ITEMS_FILE

    path = ds.root / ITEMS_FILE
    if not path.is_file():
        return 0
    ids = {ds.item_id(i): i for i in range(len(ds))}
    for item in json.loads(path.read_text()):
        if item.get("id") in ids and (item.get("kind") == "atomic" or item.get("regime") == "HRTEM"):
            return ids[item["id"]]
    return 0


def _panel(ds: Any, i: int) -> tuple[np.ndarray, str]:
    """A 2-D view of item ``i``: images as they are (centre 256x256 of large ones, so atom
    columns stay visible), waves as phase, focal series as first | last defocus."""
    item = ds[i]
    spec = ds.spec
    if spec.dtype == "complex64":
        return np.angle(item), "phase"
    if spec.family == "wavefunctions":  # [96, 96, 2] real, imaginary
        return np.arctan2(item[..., 1], item[..., 0]), "phase"
    if spec.family == "focal_series":
        return np.concatenate([item[0][:256, :256], item[-1][:256, :256]], axis=1), \
            f"defocus 1 | {len(item)}, 256x256"
    image = np.asarray(item)[..., 0] if np.ndim(item) == 3 else np.asarray(item)
    if min(image.shape) > 384:
        h, w = image.shape
        return image[h // 2 - 128:h // 2 + 128, w // 2 - 128:w // 2 + 128], "centre 256x256"
    return image, ""


def _cif_panel(ax: Any, ds: Any) -> None:
    """The first CIF's P1 sites tiled 3x3 along c, coloured by atomic number."""
    from wemd.simulation.cif import read_cif

    crystal = read_cif(ds.metadata(0)["path"])
    ij = np.array([[i, j, 0] for i in range(3) for j in range(3)])
    xyz = ((crystal.fractional[None, :, :] + ij[:, None, :]).reshape(-1, 3)) @ crystal.cell
    z = np.tile([max(c) for c in crystal.candidates], len(ij))
    ax.scatter(xyz[:, 0], xyz[:, 1], c=z, s=12, cmap="viridis")
    ax.set_aspect("equal")
    ax.set_title(f"cifs/{ds.split}: {crystal.formula or crystal.name} [001]\n"
                 f"{ds.metadata(0)['journal']}", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def example_figure(base: PathLike, path: PathLike) -> Path:
    """One panel per dataset (item 0 of its last split, or of 'all'), labelled SYNTHETIC."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wemd.api import load
    from wemd.files import atomic_path

    names = list(catalog.CATALOG)
    cols = 6
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.7, rows * 3.3))
    for ax, name in zip(axes.flat, names):
        spec = catalog.get(name)
        split = list(spec.splits)[-1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = load(name, split, root=base)
        if spec.family == "cifs":
            _cif_panel(ax, ds)
            continue
        i = _pick(ds)
        image, what = _panel(ds, i)
        shape = "x".join(map(str, np.shape(ds[i])))
        _show(ax, image, f"{name}/{split}[{i}] {shape}\n{ds.provenance}, {what}".strip(", "),
              cmap="twilight" if what == "phase" else "gray")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("Mini-WEMD: SYNTHETIC stand-in (simulated, not experimental data)", fontsize=12)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
