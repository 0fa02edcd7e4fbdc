"""`wemd train` end to end on fake data in the real layout: seeds, checkpoints, exact resume,
predictions in the evaluator's format, and a valid learned result record."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.test_alrc_study import make_structured  # noqa: E402
from wemd.baselines import training  # noqa: E402
from wemd.baselines.training import TrainConfig, TrainingError  # noqa: E402

TASK = "stem_adaptive_96"   # stem_crops_96x96, unshuffled 'all' split, last 20% are the test items


@pytest.fixture
def data(home):
    torch.set_num_threads(1)
    make_structured("stem_crops_96x96", home, {"train": 10, "val": 3, "test": 2})
    return home


def tiny(**kw):
    base = dict(task=TASK, steps=6, batch_size=2, width=4, train_crop=None, checkpoint_every=3)
    return TrainConfig(**{**base, **kw})


def test_training_items_never_include_the_test_items(data):
    task = tiny().task_obj()
    ds, positions = training.training_items(task, "local", None)
    test = task.item_positions(task.open())
    assert len(positions) == 12 and len(test) == 3
    assert not set(positions) & set(test)


@pytest.mark.slow
def test_train_three_seeds_writes_a_valid_learned_record(data, tmp_path):
    from wemd.leaderboard.records import validate

    from wemd.leaderboard.evaluator import evaluate

    out = tmp_path / "run"
    record = training.train(tiny(), out, progress=False, keep_predictions=True)
    validate(record)
    assert record["method"]["kind"] == "learned" and record["method"]["name"] == "partial-scan"
    assert [r["seed"] for r in record["runs"]] == [0, 1, 2]
    assert record["data"]["provenance"] == "subset"
    params = record["method"]["parameters"]
    assert params["alrc_warmup"] == 1 and len(params["alrc_clipped_per_seed"]) == 3
    assert "subset data" in record["notes"]
    seeds_mse = [r["metrics"]["mse"]["mean"] for r in record["runs"]]
    assert record["metrics"]["mse"]["mean"] == pytest.approx(np.mean(seeds_mse))
    assert record["metrics"]["mse"]["std"] == pytest.approx(np.std(seeds_mse))
    assert len(set(seeds_mse)) == 3                      # the seeds really differ
    assert json.loads((out / "record.json").read_text())["task"] == TASK
    preds = np.load(out / "seed0" / "predictions.npy")
    assert preds.shape == (3, 96, 96) and np.isfinite(preds).all()
    ids = json.loads((out / "seed0" / "instance_ids.json").read_text())
    # the kept predictions score the same through the public evaluator as they did streamed
    again = evaluate(TASK, out / "seed0" / "predictions.npy", instance_ids=ids, progress=False)
    assert again.metrics["mse"]["mean"] == pytest.approx(record["runs"][0]["metrics"]["mse"]["mean"])
    assert again.predictions_sha256 == record["runs"][0]["predictions_sha256"]
    # a second call finds every seed trained and changes nothing
    stamp = (out / "seed1" / "model.pt").stat().st_mtime_ns
    rerun = training.train(tiny(), out, progress=False)
    assert (out / "seed1" / "model.pt").stat().st_mtime_ns == stamp
    assert rerun["metrics"] == record["metrics"]


def test_interrupted_training_resumes_exactly(data, tmp_path, monkeypatch):
    cfg = tiny(steps=6, checkpoint_every=2)
    straight = training.train_seed(cfg, 0, tmp_path / "a", progress=False)
    real = training._Batches.__call__

    def interrupt_at_step_5(self, step):
        if step == 5:
            raise KeyboardInterrupt
        return real(self, step)

    monkeypatch.setattr(training._Batches, "__call__", interrupt_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        training.train_seed(cfg, 0, tmp_path / "b", progress=False)
    ckpt = torch.load(tmp_path / "b" / "seed0" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 4 and set(ckpt["alrc"]) == {"mu1", "mu2"} and len(ckpt["alrc_warm"]) == 1
    monkeypatch.setattr(training._Batches, "__call__", real)
    resumed = training.train_seed(cfg, 0, tmp_path / "b", progress=False)
    a = torch.load(straight, weights_only=True)["model"]
    b = torch.load(resumed, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_seeds_trained_one_at_a_time_are_reused(data, tmp_path):
    one = training.train_seed(tiny(seeds=(1,), steps=2, n=1), 1, tmp_path, progress=False)
    stamp = one.stat().st_mtime_ns
    again = training.train_seed(tiny(seeds=(0, 1, 2), steps=2), 1, tmp_path, progress=False)
    assert again == one and one.stat().st_mtime_ns == stamp


def test_checkpoint_rebuilds_the_model(data, tmp_path):
    path = training.train_seed(tiny(steps=2), 0, tmp_path, progress=False)
    model, state = training.build_from_checkpoint(path)
    assert state["model_name"] == "partial-scan" and state["task"] == TASK
    assert model(torch.zeros(1, 2, 96, 96)).shape == (1, 1, 96, 96)


def test_wrong_model_bad_seeds_and_missing_gpu_are_named(data, tmp_path):
    with pytest.raises(TrainingError, match="use 'partial-scan'"):
        training.train(tiny(model="supersampler"), tmp_path, progress=False)
    with pytest.raises(TrainingError, match="distinct"):
        training.train(tiny(seeds=(1, 1, 2)), tmp_path, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="no CUDA"):
            training.train_seed(tiny(), 0, tmp_path, device="cuda", progress=False)


@pytest.mark.parametrize("family,inputs,shape", [
    ("tem_denoise", {"noisy": np.zeros((8, 8))}, (1, 8, 8)),
    ("stem_completion", {"samples": np.zeros((8, 8)), "mask": np.ones((8, 8), bool)}, (2, 8, 8)),
    ("stem_supersample", {"low_res": np.zeros((3, 3))}, (1, 3, 3)),
    ("phase", {"amplitude": np.zeros((8, 8))}, (1, 8, 8))])
def test_inputs_become_channels_first(family, inputs, shape):
    x = training.model_input(family, inputs)
    assert x.shape == shape and x.dtype == np.float32


def test_phase_predictions_are_channels_last():
    out = np.stack([np.ones((4, 4)), np.zeros((4, 4))])
    pred = training.to_prediction("phase", out)
    assert pred.shape == (4, 4, 2) and (pred[..., 0] == 1).all()


def test_binning_window_is_a_random_crop_of_the_binned_image():
    rng = np.random.default_rng(3)
    item = rng.random((64, 70)).astype(np.float32)
    binned = item.reshape(32, 2, 35, 2).mean(axis=(1, 3))
    seen = set()
    for _ in range(15):
        window = training.binning_window(item, 8, rng)
        assert window.shape == (16, 16)
        small = window.reshape(8, 2, 8, 2).mean(axis=(1, 3))
        hits = [(y, x) for y in range(25) for x in range(28)
                if np.allclose(binned[y:y + 8, x:x + 8], small)]
        assert hits
        seen.add(hits[0])
    assert len(seen) > 8                                    # positions really vary


def test_training_crops_scale_the_low_res_size():
    sup = training.TrainConfig(task="stem_supersample_103").task_obj()
    params = training._train_params(sup, 96)
    assert params["crop"] == 96 and params["low_res"] == 19
    assert training._train_params(sup, None) == sup.params
