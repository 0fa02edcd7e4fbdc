"""The quickstart figure convinces a microscopist (issue 16, item 12), and map tiles have frames.

The figure is the one :func:`wemd.viz.examples.example_figure` writes (captured as a matplotlib
Figure when it is saved), drawn from the tiny synthetic build. Panels are found by their titles,
which begin ``NAME/SPLIT[POSITION]``; what they show is checked against the build's records.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.synthetic_fixtures import SCALE, SEED, tiny_root  # noqa: F401
from wemd import catalog, curation
from wemd.synthetic import ITEMS_FILE, synthetic_root

TITLE = re.compile(r"^([a-z0-9_]+)/(\w+)\[(\d+)\]")
WAVES = [n for n, s in catalog.CATALOG.items() if s.family == "wavefunctions"]


@pytest.fixture(scope="module")
def base(tiny_root):
    return synthetic_root(tiny_root, SCALE, SEED)


@pytest.fixture(scope="module")
def figure(base, tmp_path_factory):
    """The Figure ``example_figure`` saves, laid out (drawn once)."""
    from matplotlib.figure import Figure

    from wemd.viz.examples import example_figure

    saved = []
    original = Figure.savefig

    def capture(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Figure, "savefig", capture)
        example_figure(base, tmp_path_factory.mktemp("figure") / "examples.png")
    assert len(saved) == 1
    return saved[0]


def _load(base, name, split):
    import warnings

    import wemd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return wemd.load(name, split, root=base)


def _record(base, name, split, i) -> dict:
    """The build's record of item ``i`` of a split (items file, by id or row)."""
    ds = _load(base, name, split)
    meta = ds.metadata(i)
    for rec in json.loads((base / name / ITEMS_FILE).read_text()):
        if rec.get("id", "\0") == meta.get("id") or rec.get("row", -1) == meta.get("row"):
            return {**meta, **rec}
    raise AssertionError(f"no record of {name}/{split}[{i}]")


def _panels(figure) -> dict[str, tuple[tuple[str, int], list]]:
    """Dataset -> ((split, position), the panel's image axes), found through the titles."""
    from matplotlib.text import Text

    panels = {}
    for text in figure.findobj(Text):
        match = TITLE.match(text.get_text())
        if match and match.group(1) in catalog.CATALOG:
            holder = text.axes or text.figure  # an axes title, or a panel's (subfigure) title
            axes = [holder] if text.axes else [ax for ax in holder.axes if ax.get_images()]
            panels[match.group(1)] = ((match.group(2), int(match.group(3))), axes)
    return panels


def _image(ax) -> np.ndarray:
    return np.asarray(ax.get_images()[0].get_array(), dtype=np.float64)


def _corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


# ------------------------------------------------------------------------------- the figure

def test_every_dataset_has_a_panel_and_the_synthetic_label_stays(figure):
    panels = _panels(figure)
    assert set(panels) == set(catalog.CATALOG)
    assert "SYNTHETIC" in figure.get_suptitle()
    from matplotlib.text import Text

    titles = [t.get_text() for t in figure.findobj(Text) if TITLE.match(t.get_text())]
    assert all("synthetic" in t for t in titles)


def test_all_text_is_at_least_10_pt(figure):
    from matplotlib.text import Text

    figure.canvas.draw()  # colour-bar tick labels exist once drawn
    small = {(t.get_text(), t.get_fontsize()) for t in figure.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < 10}
    assert not small, f"text under 10 pt: {sorted(small)[:5]}"


def test_every_image_has_a_colour_bar_with_its_unit(figure):
    from matplotlib.axes import Axes

    images = [im for ax in figure.findobj(Axes) for im in ax.get_images()]
    assert len(images) >= len(catalog.CATALOG)
    for im in images:
        assert im.colorbar is not None, f"{im.axes.get_label()}: no colour bar"
        unit = im.colorbar.ax.get_ylabel() or im.colorbar.ax.get_xlabel()
        assert unit, f"{im.axes.get_label()}: colour bar without a unit"
    units = {im.colorbar.ax.get_ylabel() for im in images}
    assert {"detector counts", "intensity (a.u., min-max)", "phase (rad)"} <= units


def test_waves_show_amplitude_beside_phase_in_radians(figure, base):
    panels = _panels(figure)
    for name in WAVES:
        (split, i), axes = panels[name]
        assert [ax.get_label() for ax in axes] == [f"{name}:amplitude", f"{name}:phase"], name
        amplitude, phase = axes
        assert amplitude.get_position().x1 <= phase.get_position().x0  # side by side, in order
        assert "rad" in phase.get_images()[0].colorbar.ax.get_ylabel()
        item = np.asarray(_load(base, name, split)[i])
        wave = item if np.iscomplexobj(item) else item[..., 0] + 1j * item[..., 1]
        np.testing.assert_allclose(_image(amplitude), np.abs(wave), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(_image(phase), np.angle(wave), rtol=1e-5, atol=1e-6)


def test_scale_bars_match_each_items_pixel_size(figure, base):
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    metres = {"Å": 1.0, "nm": 10.0, "µm": 1e4}
    checked = 0
    for name, ((split, i), axes) in _panels(figure).items():
        if name == "cifs":
            continue
        pixel = _record(base, name, split, i).get("pixel_size_A")
        pixel = pixel or _record(base, name, split, i).get("physics", {}).get("pixel_size_A")
        assert pixel, f"{name}/{split}[{i}]: the build records no pixel size"
        for ax in axes:
            bars = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
            assert len(bars) == 1, f"{ax.get_label()}: {len(bars)} scale bars"
            value, unit = bars[0].txt_label.get_text().split()
            width_px = bars[0].size_bar.get_children()[0].get_width()
            assert float(value) * metres[unit] / width_px == pytest.approx(pixel, rel=1e-3)
            checked += 1
    assert checked >= 20


def test_wave_panels_show_different_structures_and_zones(figure, base):
    """The tiny build holds 8 different (structure, zone axis) waves; n1 sets repeat the draws
    of the n = 3 sets and 96x96 sets their parents, so near-identical panels are a choice."""
    def zone(z):
        g = np.gcd.reduce(np.asarray(z))
        return tuple(np.asarray(z) // g)

    shown = []
    for name in WAVES:
        (split, i), _ = _panels(figure)[name]
        rec = _record(base, name, split, i)
        if "hyperparameters" not in rec:  # a 96x96 row: its parent wave's simulation record
            parent, psplit, file = rec["source"].split("/")
            rec = _record(base, parent, psplit, int(file.split(".")[0]))
        shown.append((rec["formula"].replace(" ", ""), zone(rec["hyperparameters"]["zone_axis"])))
    assert len(set(shown)) >= 7, shown
    assert len({f for f, _ in shown}) == 3  # every structure of the tiny build


def test_stem_variants_show_one_atomic_image_and_its_crop_has_a_lattice(figure, base):
    panels = _panels(figure)
    (split, i), _ = panels["stem_full"]
    source = _record(base, "stem_full", split, i)
    assert source["kind"] == "atomic"
    for name in ("stem_crops", "stem_96x96", "stem_crops_96x96"):
        (s, k), _ = panels[name]
        assert _record(base, name, s, k)["source"] == source["id"], name
    crop = _image(panels["stem_crops_96x96"][1][0])
    power = np.abs(np.fft.fft2(crop - crop.mean())) ** 2
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(96) * 96, np.fft.fftfreq(96) * 96))
    outside = power[k >= 3]  # above the slow background
    assert outside.max() > 300 * np.median(outside)  # noise alone gives ~15


def test_tem_96x96_panel_is_the_tem_full_panel_area_downsampled(figure, base):
    panels = _panels(figure)
    (split, i), full_axes = panels["tem_full"]
    (split96, i96), small_axes = panels["tem_96x96"]
    assert _record(base, "tem_96x96", split96, i96)["source"] == \
        _record(base, "tem_full", split, i)["id"]
    whole = curation.downsample_96(_image(full_axes[0]))[..., 0]
    assert _corr(whole, _image(small_axes[0])) > 0.9


# ------------------------------------------------------------------------------- the records

def test_derived_items_record_what_they_show_and_their_pixel_size(base):
    def records(name):
        return json.loads((base / name / ITEMS_FILE).read_text())

    full = {r["id"]: r for r in records("stem_full")}
    for rec in records("stem_crops") + records("stem_crops_96x96"):
        parent = full[rec["source"]]
        assert rec.get("kind") == parent["kind"]
        assert rec.get("pixel_size_A") == parent.get("pixel_size_A")
    for rec in records("stem_96x96"):
        parent = full[rec["source"]]
        _, w = parent["shape"]
        if parent.get("pixel_size_A"):
            assert rec["pixel_size_A"] == pytest.approx(parent["pixel_size_A"] * w / 96, rel=1e-3)
    tem = {r["id"]: r for r in records("tem_full")}
    for r in tem.values():  # the curated image: largest square resized to 2048
        assert r["pixel_size_A"] == pytest.approx(
            r["raw_pixel_size_A"] * min(r["raw_shape"]) / curation.TEM_SIZE, rel=1e-3)
    for rec in records("tem_96x96"):
        parent = tem[rec["source"]]
        assert rec["regime"] == parent["regime"]
        assert rec["pixel_size_A"] == pytest.approx(parent["pixel_size_A"] * 2048 / 96, rel=1e-3)
    waves = {f"wavefunctions/{r['id']}": r for r in records("wavefunctions")}
    for rec in records("wavefunctions_96x96"):
        parent = waves[rec["source"]]
        assert (rec["formula"], rec["zone_axis"]) == (parent["formula"], parent["zone_axis"])
        assert rec["pixel_size_A"] == pytest.approx(parent["pixel_size_A"] * 320 / 96, rel=1e-3)


def test_scale_bar_lengths_are_round_and_near_a_quarter_of_the_field():
    from wemd.viz.examples import scale_bar_length

    assert scale_bar_length(47.2) == (10.0, "1 nm")
    assert scale_bar_length(30.0) == (5.0, "5 Å")
    assert scale_bar_length(2048 * 10.0) == (5000.0, "500 nm")
    assert scale_bar_length(2048 * 9.76) == (2000.0, "200 nm")
    assert scale_bar_length(2.0e5) == (5.0e4, "5 µm")


# ------------------------------------------------------------------------------- map tiles

def test_map_tiles_are_framed():
    from matplotlib.collections import PatchCollection

    from wemd.viz.maps import grid_cells, map_figure

    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 1, (60, 2))
    images = np.ones((60, 96, 96), np.float32)
    images[:, 0, 0] = 0.0  # min-max keeps them white but for one corner
    fig = map_figure(images, coords, grid=4, n_images=60)
    tiles = fig.axes[1]
    frames = [c for c in tiles.collections if isinstance(c, PatchCollection)]
    assert len(frames) == 1 and len(frames[0].get_paths()) == len(grid_cells(coords, 4, 60))
    fig.canvas.draw()  # the frames are drawn: dark lines between neighbouring white tiles
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].mean(axis=2)
    box = tiles.get_window_extent()
    row = int(rgb.shape[0] - (box.y0 + box.height * 5 / 8))  # through tile row 2 of 4
    x_mid = int(box.x0 + box.width / 2)  # the boundary between tile columns 1 and 2
    assert rgb[row, x_mid - 2:x_mid + 3].min() < 128
    assert rgb[row, int(box.x0 + box.width * 3 / 8)] > 200  # inside a tile: white
