"""Task registry and instance generators: determinism, fingerprints, protocol details."""

import math

import numpy as np
import pytest

import wemd
from tests.fakedata import make_dataset
from tests.test_leaderboard_data import make_structured
from wemd.leaderboard import TaskDataError, UnknownTaskError, get_task, instances, scans, tasks
from wemd.leaderboard.metrics import METRICS


def test_registry_covers_the_papers_tasks():
    names = set(tasks())
    assert {"tem_denoise_low_dose", "tem_denoise_high_dose", "stem_complete_spiral_17_9",
            "stem_complete_spiral_87_0", "stem_complete_grid_25", "stem_supersample_103",
            "stem_adaptive_96", "phase_n3_transforms", "phase_n3_hyperparameters",
            "phase_n3_materials", "phase_n1_materials", "phase_restricted_materials",
            "phase_single_n3_hyperparameters"} <= names
    for t in tasks().values():
        spec = wemd.spec(t.dataset)
        assert t.split == "all" or t.split in spec.splits, t.name
        assert t.primary in t.metrics and all(m in METRICS for m in t.metrics)
        assert all(r.status == "reported, not reproduced" for r in t.references)
    low = get_task("tem_denoise_low_dose")
    assert low.n_default == 20000 and low.params["dose_offset"] == 25 and low.params["dose_scale"] == 75
    assert any("U[25, 100)" in note for note in low.notes)  # the other choice is recorded
    assert get_task("phase_n3_materials").n_default == 19992


def test_unknown_task_names_close_matches():
    with pytest.raises(UnknownTaskError, match="tem_denoise_low_dose"):
        get_task("tem_denoise_low")


def test_instances_are_deterministic_streamed_and_reproducible_alone(home):
    make_structured("tem_full", home, {"train": 1, "val": 1, "test": 3})
    task = get_task("tem_denoise_low_dose", crop=32)
    ds = task.open()
    stream = list(task.instances(ds, n=5))
    alone = task.instance(ds, 3)
    np.testing.assert_array_equal(stream[3].input["noisy"], alone.input["noisy"])
    np.testing.assert_array_equal(stream[3].target, alone.target)
    again = task.open()
    np.testing.assert_array_equal(list(task.instances(again, n=5))[4].target, stream[4].target)
    # instance 0 and 3 share an item (cycling over 3 images) but not their crop and noise
    assert not np.array_equal(stream[0].input["noisy"], stream[3].input["noisy"])
    ids = task.instance_ids(ds, n=5)
    assert ids[0].split(":")[1] == ids[3].split(":")[1] and ids[0] != ids[3]
    for inp, target, groups in stream:
        noisy = inp["noisy"]
        assert noisy.shape == (32, 32) and noisy.dtype == np.float32
        assert noisy.min() == 0 and noisy.max() == 1
        assert target.mean() == pytest.approx(noisy.mean(), rel=1e-5)
        assert groups["dose"].endswith("e/px")


def test_fingerprint_depends_on_data_n_params_and_provenance(home, tmp_path):
    make_structured("tem_full", home, {"train": 1, "val": 1, "test": 2})
    task = get_task("tem_denoise_high_dose", crop=32)
    ds = task.open()
    fp = task.fingerprint(ds, 4)
    assert fp.startswith("subset:") and fp == task.fingerprint(task.open(), 4)
    assert fp != task.fingerprint(ds, 5)
    assert fp != get_task("tem_denoise_high_dose", crop=16).fingerprint(ds, 4)
    assert fp != get_task("tem_denoise_low_dose", crop=32).fingerprint(ds, 4)
    other = tmp_path / "other"
    make_dataset("tem_full", other, counts={"train": 1, "val": 1, "test": 2}, provenance="synthetic")
    synth = wemd.load("tem_full", "test", root=other)
    assert task.fingerprint(synth, 4).startswith("synthetic:")
    assert not get_task("tem_denoise_high_dose", crop=32).standard
    assert get_task("tem_denoise_high_dose").standard


def test_too_small_items_ask_for_the_published_size(home):
    make_structured("tem_full", home, {"train": 1, "val": 1, "test": 1})
    task = get_task("tem_denoise_low_dose")  # 512 crops of 2x-binned 256 px images: impossible
    ds = task.open()
    with pytest.raises(TaskDataError, match="crop"):
        task.instance(ds, 0)
    fitted = task.fit_to(ds)
    assert fitted.params["crop"] == 128 and not fitted.standard and task.standard
    assert fitted.instance(ds, 0).target.shape == (128, 128)
    make_structured("stem_crops", home, {"test": 1})  # 128 px items
    sup = get_task("stem_supersample_103").fit_to(wemd.load("stem_crops", "test"))
    assert (sup.params["crop"], sup.params["low_res"]) == (128, 26)


def test_spiral_masks_hit_the_published_coverages():
    for label, cov in (("17.9", 1 / 17.9), ("87.0", 1 / 87.0)):
        mask = scans.spiral_mask(512, cov)
        assert 1 / mask.mean() == pytest.approx(float(label), rel=0.01)
    assert scans.spiral_mask(96, 400 / 9216).sum() == pytest.approx(400, abs=4)
    grid = scans.jittered_grid_mask(512, 1 / 25, np.random.default_rng(0))
    assert 1 / grid.mean() == pytest.approx(25, rel=0.06)
    idx = scans.nearest_indices(512, 103)
    assert len(idx) == 103 and idx[0] == 2 and idx[-1] == 509


def test_completion_instances_sample_the_path_and_blur_the_target(home):
    make_structured("stem_crops", home, {"train": 1, "val": 1, "test": 2})
    task = get_task("stem_complete_spiral_17_9", crop=64)
    ds = task.open()
    inp, target, groups = task.instance(ds, 1)
    mask = inp["mask"]
    assert mask.dtype == bool and np.array_equal(mask, scans.spiral_mask(64, 1 / 17.9))
    assert np.all(inp["samples"][~mask] == 0)
    assert target.min() >= -1 and target.max() <= 1
    assert float(groups["coverage"][2:]) == pytest.approx(17.9, rel=0.02)
    # protocol: [-1, 1] map, crop (here the whole item), flip/rotation, 5x5 sigma 2.5 blur
    item = np.random.default_rng(1).random((64, 64)) * 7 + 3
    got = instances.stem_completion(task.params, item, np.random.default_rng(5), {})
    rng = np.random.default_rng(5)
    rng.integers(0, 1), rng.integers(0, 1)
    expected = instances.dihedral(instances.to_symmetric(item), int(rng.integers(8)))
    np.testing.assert_allclose(got.target, scans.blur(expected), atol=1e-6)
    np.testing.assert_allclose(got.input["samples"][got.input["mask"]], expected[got.input["mask"]], atol=1e-6)
    sup = get_task("stem_supersample_103", crop=64, low_res=13).instance(ds, 0)
    assert sup.input["low_res"].shape == (13, 13) and sup.target.shape == (64, 64)


def test_adaptive_task_uses_the_last_fifth_unshuffled(home):
    spec = wemd.spec("stem_crops_96x96")
    make_dataset("stem_crops_96x96", home, counts=dict(spec.splits), manifest=False)
    task = get_task("stem_adaptive_96")
    ds = task.open()
    pos = task.item_positions(ds)
    assert (pos[0], pos[-1], len(pos)) == (15815, 19768, 3954) == (15815, spec.total - 1, 3954)
    assert task.n_instances(ds) == 3954
    inst = task.instance(ds, 0)  # fake items are constant (value = position): a blank image
    assert inst.target.shape == (96, 96) and inst.input["mask"].sum() == pytest.approx(400, abs=4)


def test_phase_instances_and_groups(home):
    make_structured("wavefunctions", home, {"train": 1, "val": 1, "test": 3})
    task = get_task("phase_n3_materials", crop=48)
    inp, target, groups = task.instance(task.open(), 2)
    assert inp["amplitude"].shape == (48, 48) and target.shape == (48, 48, 2)
    np.testing.assert_allclose(np.hypot(target[..., 0], target[..., 1]), 1, atol=1e-5)
    assert inp["amplitude"].min() >= 1  # amplitude 1 + 0.3 * structured
    assert groups["voltage"].endswith("kV") and groups["zone"] == "[0 0 1]"
    assert groups["depth"].endswith("nm") and math.isfinite(float(groups["voltage"].split()[0]))


def test_every_task_definition_is_finite_json_so_its_records_validate(home):
    import json

    from wemd.baselines import run_baseline
    from wemd.leaderboard import validate

    for task in tasks().values():
        json.dumps(task.describe(), allow_nan=False, default=str)  # no inf/NaN in any protocol
    make_structured("tem_full", home, {"train": 1, "val": 1, "test": 2})
    record = run_baseline("tem_denoise_low_dose", "gaussian", n=2, crop=64, progress=False)
    validate(record)  # the low-dose bins end open (>= 200 e/px), not at an infinite edge
    assert any(label.startswith((">= 200", "[")) for label in record["groups"]["dose"])
