"""Per-item statistics and the quality flags, on items built to be blank, noise-only or cut short."""

import numpy as np
import pandas as pd
import pytest

from tests.fakedata import make_dataset
from wemd.errors import WEMDError
from wemd.item_stats import item_stats, stats

RNG = np.random.default_rng(7)
YY, XX = np.mgrid[0:96, 0:96]


def lattice(dose=5.0, period=8.0):
    """Atom columns on a square lattice imaged with Poisson noise at ``dose`` counts."""
    expected = dose * (1 + np.sin(2 * np.pi * XX / period) * np.sin(2 * np.pi * YY / period))
    return RNG.poisson(expected).astype(np.float32)


def cut(image, rows):
    out = image.copy()
    out[rows:] = 0.0
    return out


ITEMS = {
    "zeros": np.zeros((96, 96), np.float32),
    "constant": np.full((96, 96), 412.5, np.float32),
    "gaussian noise": (300 + 1.5 * RNG.standard_normal((96, 96))).astype(np.float32),
    "poisson noise": RNG.poisson(3.0, (96, 96)).astype(np.float32),
    "lattice": lattice(),
    "low-dose lattice": lattice(dose=1.0),
    "smooth particles": np.exp(-((XX - 40) ** 2 + (YY - 50) ** 2) / 200).astype(np.float32),
    "cut lattice": cut(lattice(), 60),
    "cut noise": cut(RNG.poisson(3.0, (96, 96)).astype(np.float32), 30),
    "last row only": cut(lattice(), 95),
}
EXPECTED = {  # blank, noise_only, incomplete
    "zeros": (True, False, False),
    "constant": (True, False, False),
    "gaussian noise": (False, True, False),
    "poisson noise": (False, True, False),
    "lattice": (False, False, False),
    "low-dose lattice": (False, False, False),
    "smooth particles": (False, False, False),
    "cut lattice": (False, False, True),
    "cut noise": (False, True, True),
    "last row only": (False, False, False),  # one row is within the 2-row / 1 % tolerance
}


@pytest.mark.parametrize("what", list(ITEMS))
def test_flags_on_built_items(what):
    s = item_stats(ITEMS[what][..., None])
    assert (s["blank"], s["noise_only"], s["incomplete"]) == EXPECTED[what]
    assert s["finite"] and s["n"] == 96 * 96


def test_moments_scanned_rows_and_non_finite_values():
    s = item_stats(ITEMS["cut lattice"])
    assert s["scanned_rows"] == 60
    img = ITEMS["cut lattice"].astype(np.float64)
    assert s["mean"] == pytest.approx(img.mean()) and s["std"] == pytest.approx(img.std())
    assert (s["min"], s["max"]) == (0.0, img.max())
    bad = ITEMS["lattice"].copy()
    bad[3, 4], bad[5, 6] = np.nan, np.inf
    s = item_stats(bad)
    assert not s["finite"] and s["nonfinite"] == 2 and s["n"] == 96 * 96 - 2
    assert np.isfinite(s["mean"]) and s["max"] == pytest.approx(np.nanmax(np.where(np.isinf(bad), np.nan, bad)))
    wave = (ITEMS["lattice"] + 1j * ITEMS["lattice"]).astype(np.complex64)
    assert item_stats(wave)["mean"] == pytest.approx(np.sqrt(2) * ITEMS["lattice"].mean(), rel=1e-5)


def _dataset(home):
    """A stem_96x96 subset whose train items are the built items, repeated."""
    names = list(ITEMS) * 2
    folder = make_dataset("stem_96x96", home, {"train": len(names), "val": 1, "test": 1})
    arr = np.zeros((len(names) + 2, 96, 96, 1), np.float32)
    for k, n in enumerate(names):
        arr[k, ..., 0] = ITEMS[n]
    np.save(folder / "stem_96x96.npy", arr)
    return names, arr[:len(names)]


def test_stats_of_a_split_and_normalisation_constants(home):
    names, arr = _dataset(home)
    df = stats("stem_96x96", "train", scheduler=None, batch=7)
    assert list(df["position"]) == list(range(len(names)))
    assert df["id"].dtype == "string" and df["split"].dtype == "category"
    assert [tuple(r) for r in df[["blank", "noise_only", "incomplete"]].itertuples(index=False)] \
        == [EXPECTED[n] for n in names]
    const = df.attrs["normalisation"]
    assert const["all"]["items"] == len(names)
    assert const["all"]["mean"] == pytest.approx(arr.astype(np.float64).mean(), rel=1e-9)
    assert const["all"]["std"] == pytest.approx(arr.astype(np.float64).std(), rel=1e-7)
    clean = arr[[not any(EXPECTED[n]) for n in names]].astype(np.float64)
    assert const["unflagged"]["mean"] == pytest.approx(clean.mean(), rel=1e-9)
    assert const["unflagged"]["max"] == clean.max()


@pytest.mark.slow
def test_stats_on_a_two_worker_local_cluster_equal_the_loop(home):
    _dataset(home)
    loop = stats("stem_96x96", "train", scheduler=None, batch=5)
    cluster = stats("stem_96x96", "train", scheduler="local", workers=2, batch=5)
    pd.testing.assert_frame_equal(loop, cluster)


def test_stats_cli_writes_parquet_and_prints_constants(home, tmp_path, capsys):
    from wemd.cli import main

    _dataset(home)
    out = tmp_path / "stats.parquet"
    assert main(["stats", "stem_96x96", "--split", "train", "--scheduler", "none",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "blank 4" in text and "incomplete 4" in text and "normalisation (all, 20 items)" in text
    table = pd.read_parquet(out)
    assert len(table) == 20 and table["noise_only"].sum() == 6
    assert table.attrs["normalisation"]["all"]["items"] == 20
    assert not list(tmp_path.glob(".*part"))


def test_a_scheduler_that_does_not_answer_is_named(home):
    _dataset(home)
    with pytest.raises(WEMDError, match="scheduler"):
        stats("stem_96x96", "val", scheduler="http://nowhere")


def test_sizes_that_cannot_compute_are_refused(home):
    _dataset(home)
    with pytest.raises(WEMDError, match="batch must be 1 or more items, not -1"):
        stats("stem_96x96", "val", scheduler=None, batch=-1)  # was: an empty table
    with pytest.raises(WEMDError, match="--workers must be 1 or more, not 0"):
        stats("stem_96x96", "val", workers=0)  # was: a wait, then dask's TimeoutError


def test_stats_of_images_of_varied_size(home):
    import wemd

    make_dataset("stem_full", home)
    df = stats("stem_full", "test", scheduler=None)
    ds = wemd.load("stem_full", "test")
    assert len(df) == 3 and df["blank"].all()  # fake items are constant images
    assert list(df["n"]) == [ds[i].size for i in range(3)]
