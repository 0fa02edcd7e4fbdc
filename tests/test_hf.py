"""Hugging Face export, load_dataset (map-style and streaming), source='hf' and publish, offline."""

import os
import pickle

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

datasets = pytest.importorskip("datasets")

import wemd  # noqa: E402
from wemd import catalog  # noqa: E402
from wemd.cli import main  # noqa: E402
from wemd.errors import WEMDError  # noqa: E402
from wemd.export.encoding import features  # noqa: E402
from wemd.export.hf import export_hf, read_card  # noqa: E402
from wemd.export.hub import publish  # noqa: E402
from tests.fakedata import make_dataset  # noqa: E402

ROUND_TRIP = ["tem_96x96", "wavefunctions_96x96", "wavefunctions", "stem_full", "stem_crops", "cifs",
              "focal_series"]


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """No network, and a fresh datasets cache per test."""
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def same(a, b):
    if isinstance(a, str):
        return a == b
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_export_loads_with_datasets_and_back_bit_identical(home, tmp_path, name):
    make_dataset(name, home)
    out = tmp_path / "export"
    export_hf(name, out, progress=False)
    spec = catalog.get(name)
    last = list(spec.splits)[-1]
    hf_last = {"val": "validation", "all": "train"}.get(last, last)
    table = datasets.load_dataset(str(out), name, split=hf_last)
    assert table.features == features(spec)
    native = wemd.load(name, last)
    assert len(table) == len(native) and set(table["provenance"]) == {"subset"}
    streamed = next(iter(datasets.load_dataset(str(out), name, split=hf_last, streaming=True)))
    assert streamed["id"] == native.item_id(0)
    for split in spec.splits:
        native = wemd.load(name, split)
        loaded = wemd.load(name, split, source="hf", repo=out)
        assert len(loaded) == len(native) and loaded.provenance == "subset"
        assert all(same(native[i], loaded[i]) for i in range(len(native)))
        assert loaded.fingerprint() == native.fingerprint()
        assert loaded.metadata(0)["id"] == native.metadata(0)["id"]
    if spec.item_shape and spec.dtype != "str":
        native, loaded = wemd.load(name, last), wemd.load(name, last, source="hf", repo=out)
        assert same(native[0:2], loaded[0:2]) and same(native[[2, 0]], loaded[[2, 0]])


def test_array_features_and_wavefunction_metadata(home, tmp_path):
    make_dataset("wavefunctions", home)
    export_hf("wavefunctions", tmp_path / "x", progress=False)
    feats = features(catalog.get("wavefunctions"))
    assert isinstance(feats["wavefunction"], datasets.Array3D)
    assert feats["wavefunction"].shape == (320, 320, 2) and feats["wavefunction"].dtype == "float32"
    loaded = wemd.load("wavefunctions", "test", source="hf", repo=tmp_path / "x")
    native = wemd.load("wavefunctions", "test")
    for key in ("cif", "journal", "depth_nm"):
        assert loaded.metadata(1)[key] == native.metadata(1)[key]
    assert features(catalog.get("stem_96x96"))["image"].shape == (96, 96, 1)


def test_to_hf_gives_a_datasetdict_with_hf_split_names(home):
    make_dataset("tem_96x96", home, provenance="synthetic")
    dd = wemd.to_hf("tem_96x96")
    assert list(dd) == ["train", "validation", "test"]
    assert dd["validation"].num_rows == 2 and set(dd["test"]["provenance"]) == {"synthetic"}
    row = dd["test"].with_format("numpy")[0]
    assert row["image"].dtype == np.float32 and float(row["image"][0, 0, 0]) == 6.0
    assert "synthetic" in dd["test"].info.description
    only = wemd.to_hf("tem_96x96", split="val", progress=False)
    assert list(only) == ["validation"]
    again = wemd.to_hf("tem_96x96", progress=False)  # replaces the files dd maps
    assert again["test"].num_rows == 3
    files = sorted(p.relative_to(datasets.config.HF_DATASETS_CACHE).as_posix()
                   for p in datasets.config.HF_DATASETS_CACHE.rglob("*") if p.is_file())
    assert files == [f"wemd/tem_96x96/{s}.arrow" for s in ("test", "train", "validation")]
    assert dd["test"].with_format("numpy")[2]["image"][0, 0, 0] == 8.0  # still mapped after


def test_card_carries_configs_features_and_provenance_per_dataset(home, tmp_path):
    make_dataset("tem_96x96", home, provenance="synthetic")
    make_dataset("cifs", home)
    out = tmp_path / "repo"
    assert main(["export-hf", "tem_96x96", str(out), "--no-progress"]) == 0
    assert main(["export-hf", "cifs", str(out), "--split", "test", "--no-progress"]) == 0
    card = read_card(out)
    assert [c["config_name"] for c in card["configs"]] == ["cifs", "tem_96x96"]
    assert [c["config_name"] for c in card["dataset_info"]] == ["cifs", "tem_96x96"]
    tem = card["wemd_exports"]["tem_96x96"]
    assert tem["provenance"] == "synthetic"
    assert tem["splits"]["test"]["fingerprint"] == wemd.load("tem_96x96", "test").fingerprint()
    assert list(card["wemd_exports"]["cifs"]["splits"]) == ["test"]
    assert datasets.load_dataset(str(out), "cifs", split="test").num_rows == 3
    loaded = wemd.load("tem_96x96", "all", source="hf", repo=out)
    assert loaded.provenance == "synthetic" and same(loaded[0:9], wemd.load("tem_96x96", "all")[0:9])
    with pytest.raises(wemd.DataMissingError, match="export-hf cifs"):
        wemd.load("cifs", "train", source="hf", repo=out)
    with pytest.raises(WEMDError, match="no wemd export of stem_96x96"):
        wemd.load("stem_96x96", "test", source="hf", repo=out)


def test_moving_validation_window_over_an_export(home, tmp_path):
    make_dataset("stem_96x96", home, counts={"train": 6, "val": 2, "test": 1})
    export_hf("stem_96x96", tmp_path / "e", progress=False)
    native = wemd.load("stem_96x96", "val", val_fold=1)
    loaded = wemd.load("stem_96x96", "val", val_fold=1, source="hf", repo=tmp_path / "e")
    assert same(native[0:2], loaded[0:2]) and loaded.window == native.window


def test_hf_source_needs_a_repo():
    with pytest.raises(WEMDError, match="repo='ORG/NAME'"):
        wemd.load("tem_96x96", "test", source="hf")


def test_publish_checks_token_repo_and_export_before_any_upload(home, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    make_dataset("tem_96x96", home)
    out = tmp_path / "e"
    export_hf("tem_96x96", out, progress=False)
    assert main(["publish", "tem_96x96", "--repo", "org/wemd-tem", "--from", str(out)]) == 1
    assert "HF_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    with pytest.raises(WEMDError, match="ORG/NAME"):
        publish("tem_96x96", "no-slash", out)
    with pytest.raises(WEMDError, match="no export of cifs"):
        publish("cifs", "org/x", out, dry_run=True)
    plan = publish("tem_96x96", "org/wemd-tem", out, dry_run=True)
    assert plan["repo"] == "org/wemd-tem" and "README.md" in plan["files"]
    assert "tem_96x96/test-00000-of-00001.parquet" in plan["files"]
    assert main(["publish", "tem_96x96", "--repo", "org/wemd-tem", "--from", str(out), "--dry-run"]) == 0
    assert "would upload" in capsys.readouterr().out


def test_batches_across_parquet_shards_and_arrow_chunks(home, tmp_path):
    make_dataset("stem_96x96", home, counts={"train": 40, "val": 2, "test": 2})
    export_hf("stem_96x96", tmp_path / "e", shard_bytes=96 * 96 * 4 * 7, progress=False)
    assert len(list((tmp_path / "e" / "stem_96x96").glob("train-*-of-00006.parquet"))) == 6
    native = wemd.load("stem_96x96", "train")
    loaded = wemd.load("stem_96x96", "train", source="hf", repo=tmp_path / "e")
    assert len(loaded.source._chunks()) > 1
    for a, b in ((0, 40), (5, 12), (13, 14), (6, 29)):
        assert same(native[a:b], loaded[a:b])
    assert same(native[[39, 0, 7]], loaded[[39, 0, 7]])
    clone = pickle.loads(pickle.dumps(loaded))  # what a DataLoader worker receives
    assert clone.source._views is None and same(clone[33], native[33])


def test_unreachable_hub_repo_is_a_clear_error(tmp_path):
    with pytest.raises(WEMDError, match="neither an export folder"):
        wemd.load("tem_96x96", "test", source="hf", repo=str(tmp_path / "missing" / "x"))
    with pytest.raises(WEMDError, match="HF_HUB_OFFLINE"):
        wemd.load("tem_96x96", "test", source="hf", repo="some-org/not-here")


def test_two_exports_in_same_named_folders_never_share_a_cache(home, tmp_path, monkeypatch):
    """datasets keys its cache of a local folder by the folder's name: without a per-export cache,
    a second export into another folder called ``e`` was served the first one's rows."""
    make_dataset("tem_96x96", home)
    export_hf("tem_96x96", tmp_path / "a" / "e", progress=False)
    first = wemd.load("tem_96x96", "test", source="hf", repo=tmp_path / "a" / "e")
    other = tmp_path / "home2"
    make_dataset("tem_96x96", other)
    for array in (other / "tem_96x96").rglob("*.npy"):
        np.save(array, (np.load(array) * 0.5).astype(np.float32))
    monkeypatch.setenv("WEMD_HOME", str(other))
    export_hf("tem_96x96", tmp_path / "b" / "e", progress=False)
    second = wemd.load("tem_96x96", "test", source="hf", repo=tmp_path / "b" / "e")
    native = wemd.load("tem_96x96", "test")
    assert same(second[0], native[0]) and not same(second[0], first[0])
    assert second.fingerprint() == native.fingerprint() != first.fingerprint()
