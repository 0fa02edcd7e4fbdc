"""The synthetic mini-WEMD: every dataset and split loads in the real layout, derived variants are
the package's curation of their parents, contributors never cross splits, same seed same bytes."""

import json
import warnings

import numpy as np
import pytest

import wemd
from wemd import catalog, curation
from wemd.synthetic import (ITEMS_FILE, SyntheticBuildError, build, structure_splits,
                            synthetic_root)
from tests.synthetic_fixtures import SCALE, SEED, tiny_root  # noqa: F401

CASES = [(name, split) for name, spec in catalog.CATALOG.items() for split in spec.splits]


def _load(name, split, root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return wemd.load(name, split, source="synthetic", root=root, scale=SCALE, seed=SEED,
                         progress=False)


def _items(root, name):
    return json.loads((synthetic_root(root, SCALE, SEED) / name / ITEMS_FILE).read_text())


@pytest.mark.parametrize("name,split", CASES)
def test_every_dataset_and_split_loads_in_order(tiny_root, name, split):
    ds = _load(name, split, tiny_root)
    spec = catalog.get(name)
    assert len(ds) >= 1 and ds.name == name and ds.split == split
    assert ds.provenance == "synthetic" and ds.is_synthetic
    assert ds.fingerprint().startswith("synthetic:")
    assert ds.manifest.splits[split] == len(ds)
    for i in range(len(ds)):
        item = ds[i]
        meta = ds.metadata(i)
        assert meta["provenance"] == "synthetic"
        if spec.dtype == "str":
            assert "_journal_name_full" in item
            assert catalog.journal_split(meta["journal"]) == split
            continue
        assert item.dtype == np.dtype(spec.dtype) and np.all(np.isfinite(item))
        if spec.item_shape:
            assert item.shape == spec.item_shape
        assert np.ptp(np.abs(item)) > 0 or spec.family == "stem"  # blank STEM scans are allowed
    all_items = _load(name, "all", tiny_root) if spec.partition != "journal" else None
    if all_items is not None and spec.dtype != "str":
        counts = {s: ds.manifest.splits[s] for s in spec.splits}  # the JSON keeps keys sorted
        start, _ = spec.split_range(split, counts)
        np.testing.assert_array_equal(np.asarray(all_items[start]), np.asarray(ds[0]))


def test_split_proportions_follow_the_catalog(tiny_root):
    for name in ("stem_full", "tem_full", "wavefunctions", "cifs", "wavefunctions_single"):
        counts = _load(name, "train", tiny_root).manifest.splits
        spec = catalog.get(name)
        total = sum(counts.values())
        assert set(counts) == set(spec.splits) and min(counts.values()) >= 1
        for split, n in counts.items():
            assert abs(n - total * spec.splits[split] / spec.total) < 1.5, (name, counts)


def test_contributors_never_share_a_split(tiny_root):
    for name in ("stem_full", "tem_full"):
        by_split = {}
        for item in _items(tiny_root, name):
            by_split.setdefault(item["id"].split("/")[0], set()).add(item["contributor"])
        assert set(by_split) == {"train", "val", "test"}
        splits = list(by_split.values())
        assert all(not (a & b) for i, a in enumerate(splits) for b in splits[i + 1:])


def test_derived_stem_variants_are_the_curation_of_stem_full(tiny_root):
    full = _load("stem_full", "all", tiny_root)
    images = [full[i] for i in range(len(full))]
    small = _load("stem_96x96", "all", tiny_root)[:]
    for i, image in enumerate(images):
        np.testing.assert_allclose(small[i], curation.downsample_96(image), rtol=1e-6)
    crops = _load("stem_crops", "test", tiny_root)
    test_full = _load("stem_full", "test", tiny_root)
    expected = [c for i in range(len(test_full))
                for c in curation.non_overlapping_crops(test_full[i])]
    assert len(crops) == len(expected)
    for i, crop in enumerate(expected):
        np.testing.assert_array_equal(crops[i], crop)
    crop_rows = _load("stem_crops_96x96", "all", tiny_root)[:]
    for i, image in enumerate(images):  # the top-left 96x96 region of each image
        np.testing.assert_array_equal(crop_rows[i], curation.crop_96(image))


def test_stem_content_is_varied_like_the_real_set(tiny_root):
    items = _items(tiny_root, "stem_full")
    kinds = [it["kind"].split()[-1] for it in items]
    columns = sum(k in ("atomic", "particles_atomic") for k in kinds)
    assert abs(columns / len(items) - 2 / 3) < 0.2
    assert len({tuple(it["shape"]) for it in items}) > 1
    incomplete = [i for i, it in enumerate(items) if it["kind"].startswith("incomplete")]
    assert incomplete
    full = _load("stem_full", "all", tiny_root)
    image = full[incomplete[0]]
    rows = items[incomplete[0]]["scanned_rows"]
    assert np.all(image[rows:] == 0) and np.ptp(image[:rows]) > 0


def test_atom_columns_show_a_lattice(tiny_root):
    """An atomic-resolution HAADF image has sharp lattice peaks in its power spectrum."""
    items = _items(tiny_root, "stem_full")
    full = _load("stem_full", "all", tiny_root)
    i = next(k for k, it in enumerate(items) if it["kind"] == "atomic")
    image = full[i][:512, :512].astype(np.float64)
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    power[0, 0] = 0
    assert power.max() > 200 * np.median(power)


def test_tem_full_is_curated(tiny_root):
    ds = _load("tem_full", "all", tiny_root)
    for i in range(len(ds)):
        img = ds[i]
        assert img.shape == (2048, 2048) and img.min() == 0.0 and img.max() == 1.0
    items = _items(tiny_root, "tem_full")
    assert all(it["mean_counts_per_px"] >= curation.MIN_COUNTS_PER_PIXEL for it in items)
    assert all("defocus_nm" in it and "cs_mm" in it for it in items)
    gen = ds.manifest.generator
    assert gen["tool"] == "wemd.synthetic" and "discarded_below_min_counts" in gen
    small = _load("tem_96x96", "all", tiny_root)[:]
    np.testing.assert_allclose(small[0], curation.downsample_96(ds[0]), rtol=1e-6)


def test_wavefunctions_come_from_the_simulation_driver(tiny_root):
    from wemd.simulation.postprocess import to_small

    ds = _load("wavefunctions", "all", tiny_root)
    meta = ds.metadata(0)
    assert meta["protocol"]["depth_nm"] == list(wemd.synthetic.SCALES[SCALE].depth_nm)
    assert meta["cif"] and meta["split"] == "train"
    assert np.isclose(np.abs(ds[0]).mean(), 1.0, atol=1e-3)
    small = _load("wavefunctions_96x96", "all", tiny_root)
    assert len(small) == len(ds)
    for i in range(len(ds)):
        np.testing.assert_allclose(small[i], to_small(ds[i]), rtol=1e-5, atol=1e-6)
    n1 = _load("wavefunctions_n1", "train", tiny_root).metadata(0)
    assert n1["protocol"]["terms"] == 1
    unseen = _load("wavefunctions_unseen", "val", tiny_root).metadata(0)
    train_cifs = {_load("cifs", "train", tiny_root).metadata(i)["cod_id"]
                  for i in range(len(_load("cifs", "train", tiny_root)))}
    assert unseen["cod_id"] in train_cifs  # unseen hyperparameters, training-set materials


def test_cifs_are_journal_tagged_and_never_pose_as_cod_records(tiny_root):
    for split in ("train", "val", "test"):
        ds = _load("cifs", split, tiny_root)
        for i in range(len(ds)):
            meta = ds.metadata(i)
            assert meta["url"].startswith("https://wemd-synthetic.invalid/")
            assert int(meta["cod_id"]) < 1000000
    assert structure_splits(["a", "b", "c", "d", "e", "f", "g", "h", "i"]) == {
        "a": "train", "b": "train", "c": "train", "d": "train", "e": "train", "f": "train",
        "g": "val", "h": "test", "i": "test"}


def test_same_seed_same_bytes_whatever_the_workers(tiny_root, tmp_path):
    build(["stem_96x96"], out=tmp_path, scale=SCALE, seed=SEED, workers=1, progress=False)
    base = synthetic_root(tiny_root, SCALE, SEED)
    for name in ("cifs", "stem_full", "stem_crops", "stem_96x96", "stem_crops_96x96"):
        a = json.loads((base / name / "wemd.json").read_text())
        b = json.loads((tmp_path / name / "wemd.json").read_text())
        assert a["files"] == b["files"] and a["splits"] == b["splits"], name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert (wemd.load(name, "all" if name != "cifs" else "test", root=tmp_path)
                    .fingerprint() == _load(name, "all" if name != "cifs" else "test",
                                            tiny_root).fingerprint())


def test_cache_is_reused_and_foreign_builds_are_refused(tiny_root, tmp_path):
    manifest = synthetic_root(tiny_root, SCALE, SEED) / "stem_full" / "wemd.json"
    before = manifest.stat().st_mtime_ns
    _load("stem_full", "val", tiny_root)
    assert manifest.stat().st_mtime_ns == before
    build(["cifs"], out=tmp_path, scale=SCALE, seed=SEED, progress=False)
    with pytest.raises(SyntheticBuildError, match="--out"):
        build(["cifs"], out=tmp_path, scale="small", seed=SEED, progress=False)
    real = tmp_path / "real"
    (real / "stem_full" / "train").mkdir(parents=True)  # real data placed by hand: never touched
    (real / "stem_full" / "train" / "0.tif").write_bytes(b"not ours")
    with pytest.raises(SyntheticBuildError, match="without a synthetic manifest"):
        build(["stem_full"], out=real, scale=SCALE, seed=SEED, progress=False)
    assert (real / "stem_full" / "train" / "0.tif").read_bytes() == b"not ours"
    with pytest.raises(SyntheticBuildError, match="unknown synthetic scale"):
        build(["cifs"], out=tmp_path, scale="huge")
    with pytest.raises(wemd.UnknownDatasetError):
        wemd.load("stem_crop", source="synthetic", root=tmp_path, scale=SCALE)
    with pytest.raises(wemd.UnknownSplitError):
        wemd.load("focal_series", "test", source="synthetic", root=tmp_path, scale=SCALE)


def test_concurrent_first_uses_wait_for_one_builder(tmp_path):
    """A second process (here: thread) waits on the build lock, then reuses the finished build."""
    import fcntl
    import threading

    from wemd.synthetic import LOCK_FILE

    done = threading.Event()
    with open(tmp_path / LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: (build(["cifs"], out=tmp_path, scale=SCALE,
                                                        seed=SEED, progress=False), done.set()))
        worker.start()
        assert not done.wait(1.0), "build ran while another builder held the lock"
        assert not (tmp_path / "cifs").exists()
    worker.join(60)
    assert done.is_set() and (tmp_path / "cifs" / "wemd.json").is_file()
