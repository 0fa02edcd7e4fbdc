"""The ALRC evidence study end to end on a tiny configuration over structured fake data."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.fakedata import make_dataset  # noqa: E402
from wemd.baselines import alrc_study  # noqa: E402


def lattice_images(n: int, size: int = 96, seed: int = 0) -> np.ndarray:
    """Atomic-column-like images: Gaussian blobs on randomly rotated, spaced lattices plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    out = np.empty((n, size, size, 1), np.float32)
    for k in range(n):
        a, angle = rng.uniform(5, 9), rng.uniform(0, np.pi)
        u = xx * np.cos(angle) + yy * np.sin(angle)
        v = -xx * np.sin(angle) + yy * np.cos(angle)
        img = np.exp(-(((u % a) - a / 2) ** 2 + ((v % a) - a / 2) ** 2) / (2 * (a / 6) ** 2))
        out[k, ..., 0] = img + 0.05 * rng.standard_normal((size, size))
    return out


def make_structured(name: str, home, counts: dict) -> None:
    """A fake 96x96 dataset in the real single-.npy layout, with lattice content instead of ramps."""
    folder = make_dataset(name, home, counts=counts)
    np.save(folder / f"{name}.npy", lattice_images(sum(counts.values())))


@pytest.fixture
def stem96(home):
    torch.set_num_threads(1)
    make_structured("stem_96x96", home, {"train": 12, "val": 4, "test": 2})
    return home


TINY = dict(source="local", losses=("squared", "quartic"), batch_sizes=(2,),
            thresholds=(2.0, None), repeats=2, steps=16, tail=8, crop=16, width=4, warmup=4,
            train_images=12, val_images=4)


@pytest.mark.slow
def test_study_writes_table_curves_and_json_and_resumes(stem96, tmp_path):
    cfg = alrc_study.StudyConfig(**TINY)
    out = tmp_path / "alrc.md"
    study = alrc_study.run_study(cfg, out, progress=False)
    assert len(study["runs"]) == 2 * 1 * 2 * 2
    assert study["provenance"] == "subset"
    md = out.read_text()
    assert "## Squared errors" in md and "## Quartic errors" in md
    assert "inf (no ALRC)" in md and "Data provenance: subset" in md
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(out.with_suffix(".json").read_text())
    assert len(saved["table"]) == 2 * 1 * 2
    for row in saved["table"]:
        assert row["n"] == 2 and np.isfinite(row["tail_mean"]) and np.isfinite(row["val_mean"])
    by_key = {r["key"]: r for r in study["runs"]}
    for r in study["runs"]:
        assert len(r["curve"]) == 16
        if r["threshold"] is None:
            assert r["clipped"] == 0
        else:  # common random numbers: same init and data, and the first forward value is raw
            twin = by_key[r["key"].replace("|n2|", "|nnone|")]
            assert r["curve"][0] == twin["curve"][0]
    # ALRC starts with moments above the losses, so the first steps are never clipped; the runs
    # diverge only once clipping has acted, and without clipping they are identical to the twin
    for r in study["runs"]:
        twin = by_key[r["key"].replace("|n2|", "|nnone|")]
        if r["clipped"] == 0:
            assert r["curve"] == twin["curve"]
    # resume: everything is cached, nothing is retrained
    cache = out.with_name("alrc.md.runs.json")
    before = cache.stat().st_mtime_ns
    again = alrc_study.run_study(cfg, out, progress=False)
    assert cache.stat().st_mtime_ns == before
    assert [r["tail_mean"] for r in again["runs"]] == [r["tail_mean"] for r in study["runs"]]


def test_missing_data_is_named(home, tmp_path):
    with pytest.raises(Exception, match="stem_96x96"):
        alrc_study.run_study(alrc_study.StudyConfig(**TINY), tmp_path / "a.md", progress=False)
