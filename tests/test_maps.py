"""Paper-style map figures for every 96x96 dataset, wavefunctions included."""

from __future__ import annotations

import json

import numpy as np
import pytest

import wemd
from tests.test_embed import one_torch_thread, structured_dataset  # noqa: F401  (autouse fixture)
from wemd import catalog
from wemd.viz.embed import load_images
from wemd.viz.maps import MAP_DATASETS, grid_cells, make_map, render_map, thumbnail


def test_every_96x96_dataset_is_mappable():
    expected = {n for n, s in catalog.CATALOG.items() if s.item_shape and s.item_shape[:2] == (96, 96)}
    assert set(MAP_DATASETS) == expected
    assert {"stem_96x96", "tem_96x96", "wavefunctions_96x96_single"} <= expected


@pytest.mark.parametrize("name", ["stem_96x96", "wavefunctions_96x96_single"])
def test_map_png_end_to_end(home, name):
    counts = {s: n for s, n in zip(catalog.get(name).splits, (30, 3, 3))}
    _, labels = structured_dataset(home, name, counts)
    ds = wemd.load(name, "train")
    view = "phase" if ds.spec.family == "wavefunctions" else "amplitude"
    out = home / "maps" / f"{name}.png"
    dmap = make_map(ds, out, "pca", view=view, n_iter=100, progress=False)
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["provenance"] == "subset" and record["view"] == view and record["n"] == 30
    assert "not the real WEMD" in dmap.label
    with np.load(out.with_suffix(".npz")) as z:
        assert z["coords"].shape == (30, 2) and list(z["positions"]) == list(range(30))
    assert record["quality"]["trustworthiness"] > 0.5


@pytest.mark.parametrize("name", MAP_DATASETS)
def test_every_96x96_dataset_renders_from_its_real_layout(home, name):
    counts = {s: n for s, n in zip(catalog.get(name).splits, (12, 2, 2))}
    structured_dataset(home, name, counts)
    ds = wemd.load(name, "val")
    view = "phase" if ds.spec.family == "wavefunctions" else "amplitude"
    images = load_images(ds, view, progress=False)
    assert images.shape == (2, 96, 96) and np.ptp(images[0]) > 0
    out = render_map(images, np.array([[0.0, 0.0], [1.0, 1.0]]), home / f"{name}.png", grid=4)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_grid_shows_the_candidate_nearest_each_cell_centre():
    coords = np.array([[0.0, 0.0], [0.1, 0.1], [0.9, 0.9], [1.0, 1.0], [0.26, 0.74]])
    cells = grid_cells(coords, grid=2, n_images=10)
    assert cells[(0, 0)] == 1  # (0.2, 0.2) in cell units is nearer the centre than (0, 0)
    assert cells[(1, 1)] == 2
    assert cells[(0, 1)] == 4
    assert len(cells) == 3


def test_render_places_images_where_the_map_puts_them(tmp_path):
    """Bright images at the top right of the map must show at the top right of panel (b)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 1, (200, 2))
    images = np.zeros((200, 96, 96), np.float32)
    bright = (coords[:, 0] > 0.5) & (coords[:, 1] > 0.5)
    images[bright] = 1.0
    images[:, 0, 0] = 0.5  # not constant: min-max keeps the contrast
    images[~bright, 0, 0] = 1.0
    out = render_map(images, coords, tmp_path / "m.png", grid=8, n_images=200)
    rgb = np.asarray(Image.open(out).convert("L"), dtype=float)
    right = rgb[:, rgb.shape[1] // 2:]  # panel (b)
    rows, cols = np.nonzero(right > 200)
    assert rows.size > 0
    h, w = right.shape
    assert np.median(rows) < h / 2 and np.median(cols) > w / 2
    assert thumbnail(np.arange(96 * 96, dtype=np.float32).reshape(96, 96)).shape == (32, 32)


def test_cli_map_writes_the_png_and_prints_scores(home, capsys):
    from wemd.cli import main

    structured_dataset(home, counts={"train": 30, "val": 3, "test": 3})
    out = home / "m.png"
    rc = main(["map", "stem_96x96", "--embedding", "pca", "--out", str(out), "--limit", "24",
               "--tsne-iterations", "100", "--root", str(home)])
    assert rc == 0 and out.is_file()
    printed = capsys.readouterr().out
    assert "trustworthiness" in printed and "24 items" in printed
    assert main(["map", "stem_96x96", "--sigma-aware", "--out", str(out), "--root", str(home)]) == 1
    assert "VAE" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_map_compare_scores_pca_vae_and_sigma_aware(home, capsys):
    pytest.importorskip("torch")
    from wemd.cli import main

    structured_dataset(home, counts={"train": 30, "val": 3, "test": 3})
    assert main(["map", "stem_96x96", "--out", str(home / "m.png"), "--limit", "24",
                 "--tsne-iterations", "50", "--iterations", "3", "--compare"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert {"pca", "vae", "vae_sigma_aware"} <= set(rows) and "[subset" in " ".join(rows["map"])
    assert all(0 < float(rows[m][0]) <= 1 for m in ("pca", "vae", "vae_sigma_aware"))
