"""Figures like the WEMD paper's: a tSNE map of a 96x96 dataset as (a) map points and (b) images
at grid points of the same map, written as one PNG (with the coordinates and scores beside it).

Any 96x96 variant works, wavefunctions included (shown and embedded as amplitude or phase). A
map made from a synthetic stand-in says so in its title and in its JSON record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from wemd import catalog
from wemd.files import atomic_path, write_json
from wemd.viz.embed import SIZE, embed, load_images, minmax
from wemd.viz.tsne import map_quality, tsne_map
from wemd.viz.vae import VAEConfig

#: The catalog's 96x96 variants (STEM, STEM crops, TEM, wavefunctions), derived from the catalog.
#: A listing, not a gate: nothing checks names against it. Maps, the explorer and search accept any
#: dataset whose items are 96x96 (load_images checks the item shape): in the catalog, exactly these.
MAP_DATASETS = tuple(name for name, s in catalog.CATALOG.items()
                     if s.item_shape is not None and tuple(s.item_shape[:2]) == (SIZE, SIZE))


@dataclass
class DatasetMap:
    """A 2-D map of (some of) one split: coordinates per item position, and how it was made."""

    dataset: str
    split: str
    provenance: str
    embedding: str
    sigma_aware: bool
    view: str
    positions: np.ndarray  # item positions within the split
    coords: np.ndarray  # [n, 2]
    quality: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        kind = f"{self.embedding.upper()}{' sigma-aware' if self.sigma_aware else ''} tSNE"
        tag = "" if self.provenance == "real" else f" [{self.provenance} data, not the real WEMD]"
        return f"{self.dataset}/{self.split} ({len(self.positions)} items): {kind}{tag}"

    def record(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "split": self.split, "provenance": self.provenance,
                "embedding": self.embedding, "sigma_aware": self.sigma_aware, "view": self.view,
                "n": int(len(self.positions)), "quality": self.quality}


def compute_map(dataset: Any, embedding: str = "pca", *, sigma_aware: bool = False,
                view: str = "amplitude", limit: Optional[int] = None,
                vae: Optional[VAEConfig] = None, n_iter: int = 750, seed: int = 0,
                progress: bool = True) -> tuple[DatasetMap, np.ndarray]:
    """Embed a 96x96 split (or ``limit`` random items of it) and map it; returns map and images.

    ``view`` picks what a wavefunction shows (amplitude, phase, real, imaginary); single-channel
    images are their own amplitude.
    """
    n = len(dataset)
    positions = np.arange(n)
    if limit is not None and limit < n:
        positions = np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))
    images = load_images(dataset, view, positions, progress=progress)
    emb = embed(images, embedding, vae=vae, seed=seed, progress=progress)
    coords = tsne_map(emb.means, emb.sigmas, sigma_aware=sigma_aware, n_iter=n_iter, seed=seed,
                      progress=progress)
    quality = map_quality(minmax(images), coords, seed=seed)
    return DatasetMap(dataset.name, dataset.split, dataset.provenance, embedding, sigma_aware,
                      view, positions, coords, quality), images


def grid_cells(coords: np.ndarray, grid: int, n_images: int = 500, seed: int = 0) -> dict[tuple[int, int], int]:
    """Cells of a ``grid`` x ``grid`` lattice over the map -> the index of the image shown there.

    Like the paper, ``n_images`` random points are candidates; each occupied cell shows the
    candidate nearest its centre.
    """
    c = np.asarray(coords, dtype=np.float64)
    lo, span = c.min(axis=0), np.ptp(c, axis=0)
    unit = (c - lo) / np.where(span > 0, span, 1.0) * (1 - 1e-9)
    rng = np.random.default_rng(seed)
    candidates = rng.choice(len(c), min(n_images, len(c)), replace=False)
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for i in candidates:
        cell_xy = unit[i] * grid
        cell = (int(cell_xy[0]), int(cell_xy[1]))
        d = float(np.sum((cell_xy - np.floor(cell_xy) - 0.5) ** 2))
        if cell not in best or d < best[cell][0]:
            best[cell] = (d, int(i))
    return {cell: i for cell, (_, i) in best.items()}


def thumbnail(image: np.ndarray, size: int = 32) -> np.ndarray:
    """Min-max scaled, area-downsampled copy of a 96x96 picture (size must divide 96)."""
    f = SIZE // size
    if f * size != SIZE:
        raise ValueError(f"thumbnail size must divide {SIZE}, got {size}")
    return minmax(image[None])[0].reshape(size, f, size, f).mean(axis=(1, 3))


def map_figure(images: np.ndarray, coords: np.ndarray, title: str = "",
               grid: Optional[int] = None, n_images: int = 500, tile: int = 32,
               seed: int = 0) -> Any:
    """The two-panel Figure: (a) map points with the grid, (b) images at grid points, each
    image in a thin frame so neighbouring tiles read as separate pictures."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PatchCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    grid = grid or max(4, int(round(np.sqrt(min(n_images, len(coords))) * 1.25)))
    cells = grid_cells(coords, grid, n_images, seed)
    mosaic = np.ones((grid * tile, grid * tile), dtype=np.float32)
    for (gx, gy), i in cells.items():
        row = grid - 1 - gy  # y grows upwards on the map, downwards in the image
        mosaic[row * tile:(row + 1) * tile, gx * tile:(gx + 1) * tile] = thumbnail(images[i], tile)

    c = np.asarray(coords)
    lo, span = c.min(axis=0), np.ptp(c, axis=0)
    unit = (c - lo) / np.where(span > 0, span, 1.0)
    fig = Figure(figsize=(16, 8.4), dpi=100)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.scatter(unit[:, 0], unit[:, 1], s=max(1.0, 3000 / len(c)), c="#1f4e99", alpha=0.6,
                linewidths=0)
    ticks = np.linspace(0, 1, grid + 1)
    ax1.set_xticks(ticks, minor=True)
    ax1.set_yticks(ticks, minor=True)
    ax1.grid(which="minor", color="0.85", linewidth=0.4)
    ax1.tick_params(which="both", length=0)
    ax1.set(xlim=(0, 1), ylim=(0, 1), xticks=[], yticks=[], aspect="equal", title="(a) map points")
    ax2.imshow(mosaic, cmap="gray", vmin=0, vmax=1, extent=(0, 1, 0, 1), interpolation="nearest")
    frames = PatchCollection([Rectangle((gx / grid, gy / grid), 1 / grid, 1 / grid)
                              for gx, gy in cells], facecolor="none", edgecolor="0.25",
                             linewidth=0.6, label="tile frames")
    ax2.add_collection(frames)
    ax2.set(xlim=(0, 1), ylim=(0, 1), xticks=[], yticks=[],
            title=f"(b) images at {len(cells)} grid points")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def render_map(images: np.ndarray, coords: np.ndarray, out: Path, title: str = "",
               grid: Optional[int] = None, n_images: int = 500, tile: int = 32,
               seed: int = 0) -> Path:
    """Write the two-panel PNG of :func:`map_figure`."""
    fig = map_figure(images, coords, title, grid, n_images, tile, seed)
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out


def make_map(dataset: Any, out: Path, embedding: str = "pca", **kw: Any) -> DatasetMap:
    """Compute a map of ``dataset`` and write ``out`` (PNG), ``out.json`` and ``out.npz``."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"the map is written as PNG; name the output *.png, not {out.name!r}")
    seed = kw.get("seed", 0)
    dmap, images = compute_map(dataset, embedding, **kw)
    render_map(images, dmap.coords, out, dmap.label, seed=seed)
    write_json(out.with_suffix(".json"), dmap.record())
    with atomic_path(out.with_suffix(".npz")) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, positions=dmap.positions, coords=dmap.coords)
    return dmap
