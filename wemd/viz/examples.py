"""The figure of examples that ``wemd quickstart`` writes: one panel per dataset.

Every panel reads the way a microscopist expects: text of at least 10 pt, a colour bar in the
stored units on every image, a scale bar wherever the item's record gives its pixel size, exit
waves as amplitude and phase (radians) side by side, and the provenance in every title.

The items shown are chosen to explain the data: the STEM and TEM variants show one source image
(``stem_96x96`` row k is ``stem_full`` item k), so the curation steps compare by eye; images
larger than :data:`ZOOM_ABOVE` show their whole field beside a centre zoom at full resolution;
the wave panels show as many different structures and zone axes as the data holds.
:func:`plan` makes these choices (data only), :func:`draw` builds the matplotlib Figure and
:func:`example_figure` writes it.

Images are resampled for display with antialiasing, never nearest-neighbour: a 320 px wave drawn
nearest into ~240 screen pixels drops rows and columns and shows a moire that is not in the data.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from wemd import catalog
from wemd.curation import CROP_SIZE
from wemd.home import PathLike

#: Smallest text in the figure (titles, colour bars, scale bars), in points.
FONT = 10.0
#: Width of a row of panels in views (one image and its colour bar each).
ROW_UNITS = 8
#: Images larger than this (pixels, either side) show their whole field and a centre zoom.
ZOOM_ABOVE = 600
ZOOM = 256
#: What the stored intensities are, by dataset family (colour-bar labels).
UNITS = {"stem": "detector counts", "tem": "intensity (a.u., min-max)",
         "focal_series": "counts per pixel"}
AMPLITUDE_UNIT = "amplitude |ψ| (mean 1)"
PHASE_UNIT = "phase (rad)"


@dataclass
class View:
    """One image of a panel: the array, its label, colour-bar unit, pixel size and colours."""

    data: np.ndarray
    label: str
    unit: str
    pixel_A: Optional[float] = None  # Angstrom per pixel along x; None: no scale bar
    cmap: str = "gray"
    limits: Optional[tuple[float, float]] = None  # default: the 0.5 and 99.5 percentiles


@dataclass
class Panel:
    """One dataset's panel: the item shown (split, position), its title and its views."""

    name: str
    split: str
    index: int
    title: str
    views: list[View]
    provenance: str = "real"
    facts: dict[str, Any] = field(default_factory=dict)
    sites: Optional[tuple[np.ndarray, np.ndarray]] = None  # CIFs: projected xy (Angstrom), Z


# ------------------------------------------------------------------------------ which item

def _records(folder: Path) -> dict[Any, dict]:
    """A synthetic build's per-item records of one dataset folder, by item id and by row."""
    from wemd.synthetic import ITEMS_FILE

    path = folder / ITEMS_FILE
    records: dict[Any, dict] = {}
    for rec in json.loads(path.read_text()) if path.is_file() else []:
        records[rec.get("id", ("row", rec.get("row")))] = rec
    return records


def _candidates(name: str, base: PathLike) -> Iterator[tuple[Any, int, dict]]:
    """(split dataset, position, facts) of every item, last split first; the facts merge the
    item's metadata (simulation hyperparameters flattened) with the build's record of it."""
    from wemd.api import load

    spec = catalog.get(name)
    for split in reversed(list(spec.splits)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = load(name, split, root=base)
        records = _records(ds.root)
        for i in range(len(ds)):
            meta = ds.metadata(i)
            rec = records.get(meta.get("id")) or records.get(("row", meta.get("row")), {})
            yield ds, i, {**(meta.get("hyperparameters") or {}), **meta, **rec}


def _zone(facts: dict) -> Optional[tuple[int, ...]]:
    """The zone axis in lowest terms ([2, 2, 2] is [1, 1, 1])."""
    zone = facts.get("zone_axis") or facts.get("zone")
    if not zone:
        return None
    g = math.gcd(*(int(v) for v in zone)) or 1
    return tuple(int(v) // g for v in zone)


@dataclass
class Shown:
    """What earlier panels showed: the item id per dataset, and the waves' (structure, zone)."""

    items: dict[str, str] = field(default_factory=dict)
    waves: set[tuple] = field(default_factory=set)


def _preference(spec: Any, shown: Shown) -> Callable[[dict], int]:
    """How well an item suits its panel (higher is better). STEM: atom columns, in an image
    large enough for 512x512 crops; TEM: low magnification (it reads at 96x96 too); variants of
    either: the item made from the one their parent's panel shows; waves: a structure and zone
    axis (else a structure) that no earlier panel showed."""
    if spec.family == "wavefunctions":
        formulas = {formula for formula, _ in shown.waves}
        return lambda f: (2 * ((f.get("formula"), _zone(f)) not in shown.waves)
                          + (f.get("formula") not in formulas))
    if spec.family not in ("stem", "tem"):
        return lambda f: 0
    parent = shown.items.get(spec.derived_from or "")
    kind = {"stem": ("kind", "atomic"), "tem": ("regime", "low magnification")}[spec.family]

    def score(f: dict) -> int:
        croppable = min(f.get("shape") or [0]) >= CROP_SIZE
        return 4 * (parent is not None and f.get("source") == parent) + \
            2 * (f.get(kind[0]) == kind[1]) + croppable
    return score


def _pixel(facts: dict) -> Optional[float]:
    p = facts.get("pixel_size_A") or (facts.get("physics") or {}).get("pixel_size_A")
    return float(p) if p else None


# ------------------------------------------------------------------------------ what it shows

def _centre(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top:top + size, left:left + size]


def _phase_view(phase: np.ndarray, pixel: Optional[float]) -> View:
    """Phase in radians: a cyclic map over the whole circle when it wraps, else its range."""
    lo, hi = (float(v) for v in np.percentile(phase, [0.5, 99.5]))
    if hi - lo > 1.5 * np.pi:
        return View(phase, "phase", PHASE_UNIT, pixel, "twilight", (-np.pi, np.pi))
    return View(phase, "phase", PHASE_UNIT, pixel, "viridis", (lo, hi))


def _views(family: str, item: np.ndarray, facts: dict) -> list[View]:
    pixel = _pixel(facts)
    if family == "wavefunctions":
        wave = item if np.iscomplexobj(item) else item[..., 0] + 1j * item[..., 1]
        return [View(np.abs(wave), "amplitude", AMPLITUDE_UNIT, pixel),
                _phase_view(np.angle(wave), pixel)]
    unit = UNITS.get(family, "intensity (a.u.)")
    if family == "focal_series":
        defocus = facts.get("defocus_nm") or []
        return [View(item[k], f"defocus {defocus[k]:.0f} nm" if defocus else f"image {k + 1}",
                     unit, pixel) for k in (0, len(item) - 1)]
    image = np.asarray(item)[..., 0] if np.ndim(item) == 3 else np.asarray(item)
    if max(image.shape) > ZOOM_ABOVE:
        return [View(image, "whole field", unit, pixel),
                View(_centre(image, ZOOM), f"centre {ZOOM}x{ZOOM}", unit, pixel)]
    return [View(image, "", unit, pixel)]


def _what(family: str, f: dict) -> str:
    """One line on what the item shows: kind, detector, structure, zone, depth."""
    axis = f.get("zone_axis") or f.get("zone")
    zone = f"[{''.join(map(str, axis))}]" if axis else ""
    if family == "wavefunctions":
        return ", ".join(s for s in (f"{f.get('formula', '')} {zone}".strip(),
                                     f"{f['depth_nm']:.1f} nm deep" if "depth_nm" in f else "",
                                     f"{f['voltage_kv']:.0f} kV" if "voltage_kv" in f else "")
                         if s)
    kind = " ".join(str(f[k]) for k in ("kind", "detector", "regime") if f.get(k))
    crystal = f"{f.get('crystal', '')} {zone}".strip()
    return ", ".join(s for s in (kind, crystal) if s)


def _cif_panel(ds: Any, i: int, facts: dict) -> Panel:
    """The P1 sites of a CIF tiled 3x3 in the ab plane, coloured by atomic number."""
    from wemd.simulation.cif import read_cif

    crystal = read_cif(facts["path"])
    ij = np.array([[a, b, 0] for a in range(3) for b in range(3)])
    xyz = ((crystal.fractional[None, :, :] + ij[:, None, :]).reshape(-1, 3)) @ crystal.cell
    z = np.tile([max(c) for c in crystal.candidates], len(ij))
    title = (f"{ds.name}/{ds.split}[{i}]\n{crystal.formula or crystal.name}, P1 cell 3x3, "
             f"along c\n{facts.get('journal', '')}, {ds.provenance}")
    return Panel(ds.name, ds.split, i, title, [], ds.provenance, facts, sites=(xyz[:, :2], z))


def panel(name: str, base: PathLike, shown: Optional[Shown] = None) -> Panel:
    """The panel of one dataset under ``base``: its best-suited item (:func:`_preference`; ties
    go to the last split's first item). ``shown`` carries what earlier panels showed."""
    shown = Shown() if shown is None else shown
    spec = catalog.get(name)
    score = _preference(spec, shown)
    best = None
    for ds, i, facts in _candidates(name, base):
        if best is None or score(facts) > score(best[2]):
            best = (ds, i, facts)
    ds, i, facts = best
    shown.items[name] = facts.get("id", "")
    if spec.family == "cifs":
        return _cif_panel(ds, i, facts)
    if spec.family == "wavefunctions":
        shown.waves.add((facts.get("formula"), _zone(facts)))
    item = ds[i]
    shape = "x".join(map(str, np.shape(item)))
    source = f", from {facts['source']}" if facts.get("source") else ""
    what = _what(spec.family, facts)
    title = f"{name}/{ds.split}[{i}]\n{shape}{source}\n{what + ', ' if what else ''}{ds.provenance}"
    return Panel(name, ds.split, i, title, _views(spec.family, item, facts), ds.provenance,
                 facts)


def plan(base: PathLike) -> list[Panel]:
    """One panel per catalog dataset found under ``base``, in catalog order."""
    shown = Shown()
    return [panel(name, base, shown) for name in catalog.CATALOG
            if (Path(base) / name).is_dir()]


# ------------------------------------------------------------------------------ drawing

def scale_bar_length(width_A: float) -> tuple[float, str]:
    """A round length (1, 2 or 5 times a power of ten Angstrom) near a quarter of a field
    ``width_A`` wide, and its label in Angstrom, nm or micrometres."""
    target = width_A / 4
    power = 10.0 ** math.floor(math.log10(target))
    length = max(m * power for m in (1, 2, 5) if m * power <= target * (1 + 1e-9))
    if length >= 1e4:
        return length, f"{length / 1e4:g} µm"
    if length >= 10:
        return length, f"{length / 10:g} nm"
    return length, f"{length:g} Å"


def _scale_bar(ax: Any, width_px: float, pixel_A: float) -> None:
    """A white bar with its length, bottom left, on a translucent dark box."""
    from matplotlib.font_manager import FontProperties
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length, label = scale_bar_length(width_px * pixel_A)
    bar = AnchoredSizeBar(ax.transData, length / pixel_A, label, "lower left", pad=0.3,
                          color="white", frameon=True, size_vertical=width_px / 60,
                          label_top=True, fontproperties=FontProperties(size=FONT))
    bar.patch.set(facecolor="black", alpha=0.5, edgecolor="none")
    ax.add_artist(bar)


def _colour_bar(fig: Any, mappable: Any, ax: Any, unit: str, phase: bool = False) -> None:
    bar = fig.colorbar(mappable, ax=ax, fraction=0.05, pad=0.03)
    bar.set_label(unit, fontsize=FONT)
    bar.ax.tick_params(labelsize=FONT)
    if phase and tuple(mappable.get_clim()) == (-np.pi, np.pi):
        bar.set_ticks([-np.pi, 0, np.pi], labels=["−π", "0", "π"])


def _limits(data: np.ndarray) -> tuple[float, float]:
    lo, hi = (float(v) for v in np.percentile(data, [0.5, 99.5]))
    return lo, hi if hi > lo else lo + 1.0


def _draw_view(fig: Any, ax: Any, name: str, view: View) -> None:
    im = ax.imshow(view.data, cmap=view.cmap, clim=view.limits or _limits(view.data),
                   interpolation="antialiased")
    ax.set_label(f"{name}:{view.label or 'image'}")
    ax.set_xticks([])
    ax.set_yticks([])
    if view.label:
        ax.set_title(view.label, fontsize=FONT)
    _colour_bar(fig, im, ax, view.unit, phase=view.unit == PHASE_UNIT)
    if view.pixel_A:
        _scale_bar(ax, view.data.shape[1], view.pixel_A)


def _draw_sites(fig: Any, panel_: Panel) -> None:
    xy, z = panel_.sites
    ax = fig.subplots()
    points = ax.scatter(xy[:, 0], xy[:, 1], c=z, s=14, cmap="viridis")
    ax.set_label(f"{panel_.name}:sites")
    ax.set(aspect="equal", xticks=[], yticks=[])
    _colour_bar(fig, points, ax, "atomic number Z")
    _scale_bar(ax, float(np.ptp(xy[:, 0])) or 1.0, 1.0)


def _rows(panels: list[Panel]) -> list[list[Panel]]:
    """Panels packed in order into rows of :data:`ROW_UNITS` views."""
    rows: list[list[Panel]] = [[]]
    for p in panels:
        if sum(max(1, len(q.views)) for q in rows[-1]) + max(1, len(p.views)) > ROW_UNITS:
            rows.append([])
        rows[-1].append(p)
    return rows


def draw(panels: list[Panel]) -> Any:
    """The matplotlib Figure of ``panels``: one subfigure per panel (its label the dataset's
    name), one axes per view (label ``NAME:VIEW``) with a colour bar and, where the pixel size
    is known, a scale bar."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = _rows(panels)
    fig = Figure(figsize=(ROW_UNITS * 3.0, len(rows) * 3.9 + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(rows), ROW_UNITS)
    for r, row in enumerate(rows):
        column = 0
        for p in row:
            width = max(1, len(p.views))
            sub = fig.add_subfigure(grid[r, column:column + width])
            column += width
            sub.set_label(p.name)
            sub.suptitle(p.title, fontsize=FONT)
            if p.sites is not None:
                _draw_sites(sub, p)
                continue
            for ax, view in zip(sub.subplots(1, len(p.views), squeeze=False)[0], p.views):
                _draw_view(sub, ax, p.name, view)
    provenance = {p.provenance for p in panels}
    label = ("SYNTHETIC stand-in (simulated, not experimental data)" if "synthetic" in provenance
             else ", ".join(sorted(provenance)))
    fig.suptitle(f"Mini-WEMD: {label}\none item per dataset; colour bars in the stored units, "
                 "scale bars from each item's pixel size, exit waves as amplitude | phase",
                 fontsize=FONT + 4)
    return fig


def example_figure(base: PathLike, path: PathLike) -> Path:
    """Write the figure of :func:`plan` for the datasets under ``base`` to ``path`` (PNG)."""
    from wemd.files import atomic_path

    fig = draw(plan(base))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return Path(path)
