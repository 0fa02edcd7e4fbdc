"""Similarity search: any query size to the dataset form, a cached index, exact self-retrieval."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import wemd
from tests.test_embed import one_torch_thread, structured_dataset  # noqa: F401  (autouse fixture)
from wemd.viz.search import INDEX_DIR, SearchError, build_index, search, to_dataset_form
from wemd.viz.vae import VAEConfig

COUNTS = {"train": 45, "val": 9, "test": 9}


def test_query_of_any_size_becomes_a_dataset_item():
    big = np.zeros((300, 400), np.float32)
    big[:, 200:] = 1.0  # right half bright; the centre square crop keeps columns 50..349
    item = to_dataset_form(big, "stem_96x96")
    assert item.shape == (96, 96, 1) and item.dtype == np.float32
    assert item[:, :40].max() < 0.05 and item[:, 56:].min() > 0.95
    same = np.random.default_rng(0).random((96, 96)).astype(np.float32)
    assert np.array_equal(to_dataset_form(same, "stem_96x96")[..., 0], same)  # no resampling
    rgb = np.zeros((50, 50, 3), np.uint8)
    rgb[..., 1] = 200
    assert to_dataset_form(rgb, "tem_96x96").shape == (96, 96, 1)
    wave = np.exp(1j * np.linspace(0, 1, 320 * 320)).reshape(320, 320).astype(np.complex64)
    w96 = to_dataset_form(wave, "wavefunctions_96x96")
    assert w96.shape == (96, 96, 2)
    assert np.allclose(np.hypot(w96[..., 0], w96[..., 1]), 1.0, atol=0.02)
    with pytest.raises(SearchError, match="complex image"):
        to_dataset_form(np.ones((64, 64)), "wavefunctions_96x96")
    with pytest.raises(SearchError, match="does not exist"):
        to_dataset_form("/nonexistent/query.tif", "stem_96x96")


def test_pca_search_finds_the_item_itself_first_and_caches_the_index(home, tmp_path):
    structured_dataset(home, counts=COUNTS)
    ds = wemd.load("stem_96x96", "all")
    target = 22
    query = tmp_path / "query.tif"
    tifffile.imwrite(query, ds[target][..., 0])
    out = tmp_path / "hits.png"
    hits = search(query, dataset="stem_96x96", k=5, method="pca", out=out, progress=False)
    assert hits[0].position == target and hits[0].distance == pytest.approx(0, abs=1e-3)
    assert hits[0].item_id == ds.item_id(target) and hits[0].metadata["provenance"] == "subset"
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(h.position % 3 == target % 3 for h in hits)  # neighbours are of the same kind
    assert np.all(np.diff([h.distance for h in hits]) >= 0)
    assert out.read_bytes()[:4] == b"\x89PNG"
    first = build_index(ds, "pca", progress=False)
    assert first.cached and first.folder.is_relative_to(home / INDEX_DIR / "stem_96x96" / "all")
    # a larger query of the same picture is brought to 96x96 and still finds it
    up = np.kron(ds[target][..., 0], np.ones((3, 3), np.float32))
    assert search(up, "stem_96x96", k=1, method="pca", progress=False)[0].position == target
    # changed data -> new fingerprint -> a new index, never the stale one
    arr = np.load(home / "stem_96x96" / "stem_96x96.npy")
    arr[0] = arr[1]
    np.save(home / "stem_96x96" / "stem_96x96.npy", arr)
    fresh = build_index(wemd.load("stem_96x96", "all"), "pca", progress=False)
    assert not fresh.cached and fresh.folder != first.folder


@pytest.mark.slow
def test_vae_search_returns_an_exact_copy_first(home):
    structured_dataset(home, counts=COUNTS)
    ds = wemd.load("stem_96x96", "train")
    cfg = VAEConfig(width=4, iterations=15, batch_size=16)
    for target in (3, 31):
        hits = search(ds[target], "stem_96x96", k=3, split="train", method="vae", vae=cfg,
                      progress=False)
        assert hits[0].position == target and hits[0].distance < 1e-3
    assert build_index(ds, "vae", vae=cfg, progress=False).cached


def test_search_rejects_bad_k(home):
    with pytest.raises(SearchError, match="k must be"):
        search(np.zeros((96, 96)), "stem_96x96", k=0)


def test_cli_search_prints_hits_and_writes_png(home, tmp_path, capsys):
    from wemd.cli import main

    structured_dataset(home, counts=COUNTS)
    ds = wemd.load("stem_96x96", "all")
    query = tmp_path / "q.npy"
    np.save(query, np.kron(ds[40][..., 0], np.ones((2, 2), np.float32)))  # 192x192
    out = tmp_path / "hits.png"
    assert main(["search", str(query), "--dataset", "stem_96x96", "-k", "3", "--embedding",
                 "pca", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[1] == ds.item_id(40) and out.is_file()
