"""Evaluator: strict input checks, metrics with the protocol's parameters, group breakdowns."""

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from tests.test_leaderboard_data import make_structured
from wemd.errors import WEMDError
from wemd.leaderboard import EvaluationInputError, evaluate, get_task, write_inputs
from wemd.leaderboard.evaluator import npz_member
from wemd.leaderboard.metrics import SSIM_PARAMS, phase_mae, rms_01, ssim, summarize

N = 4


@pytest.fixture(scope="module")
def tem(tmp_path_factory):
    root = tmp_path_factory.mktemp("home")
    make_structured("tem_full", root, {"test": 3})
    task = get_task("tem_denoise_low_dose", crop=32)
    ds = task.open(root=root)
    return task, ds, [inst.target for inst in task.instances(ds, N)]


def test_perfect_predictions_score_perfectly_with_groups(tem):
    task, ds, targets = tem
    res = evaluate(task, np.stack(targets), ds=ds, n=N, progress=False)
    assert res.metrics["mse_x1000"]["mean"] == pytest.approx(0, abs=1e-6)
    assert res.metrics["ssim"]["mean"] == pytest.approx(1, abs=1e-6)
    assert res.n == N and not res.standard and res.provenance == "subset"
    assert sum(g["mse_x1000"]["n"] for g in res.groups["dose"].values()) == N
    assert res.instances_fingerprint == task.fingerprint(ds, N)
    table = str(res)
    assert "dose=" in table and "non-standard" in table and "subset data" in table
    assert set(res.as_dict()) >= {"metrics", "groups", "predictions_sha256", "dataset_fingerprint"}


def test_predictions_are_clipped_and_hashed(tem):
    task, ds, targets = tem
    raw = np.stack(targets) + 5.0  # clipped to 1 before scoring
    res = evaluate(task, raw, ds=ds, n=N, progress=False)
    expected = np.mean([np.mean((1.0 - t.astype(np.float64)) ** 2) * 1000 for t in targets])
    assert res.metrics["mse_x1000"]["mean"] == pytest.approx(expected, rel=1e-5)
    again = evaluate(task, raw.astype(np.float64), ds=ds, n=N, progress=False)
    assert again.predictions_sha256 == res.predictions_sha256  # hash of the float32 values
    other = evaluate(task, np.stack(targets), ds=ds, n=N, progress=False)
    assert other.predictions_sha256 != res.predictions_sha256


@pytest.mark.parametrize("bad, message", [
    (lambda p: p[:-1], "Got 3 predictions but the task has 4"),
    (lambda p: p[:, :16], "shape \\(16, 32\\), expected \\(32, 32\\)"),
    (lambda p: (p * 255).astype(np.uint8), "dtype uint8"),
    (lambda p: np.where(np.arange(32) == 3, np.nan, p).astype(np.float32), "non-finite"),
])
def test_bad_predictions_are_refused_with_the_expected_format(tem, bad, message):
    task, ds, targets = tem
    with pytest.raises(EvaluationInputError, match=message) as err:
        evaluate(task, bad(np.stack(targets)), ds=ds, n=N, progress=False)
    assert "Expected: Predictions for tem_denoise_low_dose: a float array of shape [n, 32, 32]" in str(err.value)


def test_inputs_file_round_trip_and_order_check(tem, tmp_path):
    task, ds, targets = tem
    path = write_inputs(task, tmp_path / "inputs.npz", ds=ds, n=N, progress=False)
    data = np.load(path)
    assert set(data.files) == {"noisy", "instance_ids"} and data["noisy"].shape == (N, 32, 32)
    np.testing.assert_array_equal(data["noisy"][2], task.instance(ds, 2).input["noisy"])
    ids = data["instance_ids"]
    np.savez(tmp_path / "pred.npz", predictions=np.stack(targets), instance_ids=ids)
    assert evaluate(task, tmp_path / "pred.npz", ds=ds, n=N, progress=False).metrics["ssim"]["mean"] > 0.999
    assert isinstance(npz_member(tmp_path / "pred.npz", "predictions"), np.memmap)  # never loaded whole
    np.savez_compressed(tmp_path / "packed.npz", predictions=np.stack(targets))
    assert evaluate(task, tmp_path / "packed.npz", ds=ds, n=N, progress=False).metrics["ssim"]["mean"] > 0.999
    np.save(tmp_path / "pred.npy", np.stack(targets))
    assert evaluate(task, tmp_path / "pred.npy", ds=ds, n=N, progress=False).n == N
    np.savez(tmp_path / "swapped.npz", predictions=np.stack(targets), instance_ids=ids[[1, 0, 2, 3]])
    with pytest.raises(EvaluationInputError, match="position 0"):
        evaluate(task, tmp_path / "swapped.npz", ds=ds, n=N, progress=False)
    np.savez(tmp_path / "nokey.npz", preds=np.stack(targets))
    with pytest.raises(EvaluationInputError, match="No 'predictions' key"):
        evaluate(task, tmp_path / "nokey.npz", ds=ds, n=N, progress=False)


def test_metric_definitions():
    rng = np.random.default_rng(0)
    a, b = rng.random((40, 40)), rng.random((40, 40))
    assert SSIM_PARAMS == {"win_size": 7, "K1": 0.01, "K2": 0.03, "gaussian_weights": False,
                           "use_sample_covariance": True, "data_range": 1.0}
    assert ssim(a, b) == pytest.approx(structural_similarity(b, a, win_size=7, data_range=1.0))
    assert rms_01(np.full(4, 0.5), np.full(4, -0.5)) == pytest.approx(0.5)  # [-1,1] -> [0,1]
    assert phase_mae(np.zeros((2, 2, 2)), np.ones((2, 2, 2))) == 1.0
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s["mean"] == 2.5 and s["std"] == pytest.approx(np.std([1, 2, 3, 4]))
    assert s["se"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2) and s["n"] == 4


def test_inputs_that_would_not_fit_on_disk_are_refused_before_the_work(tem, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    task, ds, _ = tem
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 6, 10 ** 6 - 1000, 1000))
    with pytest.raises(WEMDError, match=r"4 instances of tem_denoise_low_dose need about .* pass --n"):
        write_inputs(task, tmp_path / "inputs.npz", ds=ds, n=N, progress=False)
    assert list(tmp_path.iterdir()) == []  # nothing half-written
