"""Classical baselines: the random-phase floor, denoisers, interpolators, resamplers."""

import importlib.util

import numpy as np
import pytest

from tests.test_leaderboard_data import make_structured, structured
from wemd.baselines import classical, completion, denoise, supersample
from wemd.baselines import evaluate_method, run_baseline
from wemd.leaderboard import get_task, scans


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("home")
    make_structured("wavefunctions", root, {"test": 3})
    make_structured("tem_full", root, {"test": 2})
    make_structured("stem_crops", root, {"test": 2})
    return root


def test_uniform_random_phase_mae_is_three_quarters(root):
    res = evaluate_method("phase_n3_materials", "uniform_random", root=root, n=8, crop=128,
                          progress=False)
    assert res.metrics["phase_mae"]["mean"] == pytest.approx(0.750, abs=0.005)
    again = evaluate_method("phase_n3_materials", "uniform_random", root=root, n=8, crop=128,
                            progress=False)
    assert again.predictions_sha256 == res.predictions_sha256  # seeded per instance
    other = evaluate_method("phase_n3_materials", "uniform_random", root=root, n=8, crop=128,
                            seed=1, progress=False)
    assert other.predictions_sha256 != res.predictions_sha256
    const = evaluate_method("phase_n3_materials", "constant", root=root, n=3, crop=32, progress=False)
    assert 0 < const.metrics["phase_mae"]["mean"] < 1.5


def test_record_of_a_stochastic_baseline_names_its_seed(root):
    rec = run_baseline("phase_n3_materials", "uniform_random", root=root, n=2, crop=16, seed=7,
                       progress=False)
    assert rec["runs"][0]["seed"] == 7 and rec["method"]["kind"] == "classical"
    assert rec["method"]["code_url"] == "python:wemd.baselines.phase.uniform_random"
    assert rec["data"]["standard"] is False and rec["notes"]


def test_denoisers_run_on_noisy_micrographs_and_the_smoothers_help(root):
    task = get_task("tem_denoise_low_dose", crop=64)
    ds = task.open(root=root)
    mse = {}
    for name, method in classical.methods("tem_denoise").items():
        if name == "bm3d":
            continue
        res = evaluate_method(task, name, ds=ds, n=2, progress=False)
        mse[name] = res.metrics["mse_x1000"]["mean"]
    assert all(np.isfinite(v) for v in mse.values())
    for name in ("gaussian", "wiener", "median", "wavelet", "tv_chambolle", "fourier_wiener"):
        assert mse[name] < mse["unfiltered"], (name, mse)


def test_denoiser_parameters_are_the_papers():
    x = np.random.default_rng(0).random((32, 32))
    from scipy.ndimage import convolve

    g = np.exp(-np.arange(-1, 2) ** 2 / (2 * 0.8 ** 2))
    k = np.outer(g, g) / np.outer(g, g).sum()  # 3x3 kernel, sigma 0.8
    np.testing.assert_allclose(denoise.gaussian(x), convolve(x, k, mode="mirror"), atol=1e-12)
    from scipy.ndimage import median_filter

    np.testing.assert_array_equal(denoise.median(x), median_filter(x, size=3, mode="reflect"))
    assert classical.get_method("tem_denoise", "tv_chambolle").parameters == {"weight": 0.1}
    with pytest.raises(KeyError, match="gaussian"):
        classical.get_method("tem_denoise", "gausian")


@pytest.mark.skipif(importlib.util.find_spec("bm3d") is None, reason="bm3d not installed")
def test_bm3d_denoises():
    rng = np.random.default_rng(0)
    clean = structured(32, rng)
    noisy = clean + rng.normal(0, 0.05, clean.shape)
    assert np.mean((denoise.bm3d(noisy) - clean) ** 2) < np.mean((noisy - clean) ** 2)


def test_interpolators_fill_the_scan_and_keep_the_samples():
    img = scans.blur(structured(64, np.random.default_rng(1)) * 2 - 1)
    mask = scans.spiral_mask(64, 1 / 10)
    samples = np.where(mask, img, 0.0)
    zero_fill = np.mean((samples - img) ** 2)
    for name in ("nearest", "linear", "cubic", "biharmonic"):
        out = getattr(completion, name)(samples, mask)
        assert out.shape == img.shape and np.isfinite(out).all()
        np.testing.assert_allclose(out[mask], img[mask], atol=1e-6)
        assert np.mean((out - img) ** 2) < zero_fill / 2, name


def test_resamplers_restore_smooth_images():
    img = scans.blur(structured(128, np.random.default_rng(2)) * 2 - 1)
    idx = scans.nearest_indices(128, 26)
    low = img[np.ix_(idx, idx)]
    for fn in (supersample.bicubic, supersample.lanczos):
        out = fn(low, 128)
        assert out.shape == (128, 128)
        assert np.sqrt(np.mean((out - img) ** 2)) < 0.1 * np.ptp(img)


def test_completion_baseline_end_to_end(root):
    res = evaluate_method("stem_complete_spiral_17_9", "linear", root=root, n=2, crop=64, progress=False)
    assert 0 < res.metrics["rms"]["mean"] < 0.5 and res.provenance == "subset"
    sup = evaluate_method("stem_supersample_103", "bicubic", root=root, n=2, crop=64, low_res=13,
                          progress=False)
    assert sup.metrics["mse_x200"]["mean"] > 0


def test_wiener_on_flat_zero_patches_warns_nothing():
    import warnings

    from wemd.baselines import denoise

    x = np.zeros((16, 16))
    x[8, 8] = 1.0  # a low-dose image: mostly zero counts
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = denoise.wiener(x)
    assert np.all(np.isfinite(out))
