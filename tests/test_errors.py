"""Bad input gets a clear error naming the problem and the fix."""

import json

import numpy as np
import pytest

import wemd
from tests.fakedata import make_dataset


def test_unknown_dataset_lists_closest_names():
    with pytest.raises(wemd.UnknownDatasetError, match="Did you mean 'stem_crops'"):
        wemd.load("stem_crop")


def test_unknown_split_lists_valid_ones(home):
    with pytest.raises(wemd.UnknownSplitError, match="valid splits: train, val, all"):
        wemd.load("wavefunctions_single", split="test")


def test_missing_data_says_where_and_how(home):
    with pytest.raises(wemd.DataMissingError) as err:
        wemd.load("stem_crops", split="test")
    msg = str(err.value)
    assert str(home / "stem_crops") in msg and "wemd download stem_crops" in msg
    assert "source='synthetic'" in msg


def test_wrong_counts_say_found_and_expected(home):
    make_dataset("stem_96x96", home, {"train": 10, "val": 2, "test": 3}, manifest=False)
    with pytest.raises(wemd.CountMismatchError, match="holds 15 items but 19769 are expected"):
        wemd.load("stem_96x96", "test")


def test_wrong_split_count_in_folders(home):
    folder = make_dataset("stem_crops", home)
    (folder / "test" / "0.tif").unlink()
    with pytest.raises(wemd.CountMismatchError, match="split 'test' holds 2 items but 3"):
        wemd.load("stem_crops", "test")


def test_manifest_cannot_pass_a_subset_off_as_real(home):
    folder = make_dataset("stem_96x96", home)
    (folder / "wemd.json").write_text(json.dumps(
        {"format": "wemd-manifest/1", "dataset": "stem_96x96", "provenance": "real",
         "splits": {"train": 4, "val": 2, "test": 3}}))
    with pytest.raises(wemd.ManifestError, match="provenance 'subset'"):
        wemd.load("stem_96x96", "test")


def test_corrupt_tiff_names_the_file(home):
    folder = make_dataset("stem_crops", home)
    bad = folder / "test" / "1.tif"
    bad.write_bytes(bad.read_bytes()[:300])
    ds = wemd.load("stem_crops", "test")
    assert ds[0].shape == (512, 512)
    with pytest.raises(wemd.CorruptFileError, match="1.tif"):
        ds[1]


def test_wrong_shape_array_is_a_layout_error(home):
    folder = home / "stem_96x96"
    folder.mkdir()
    np.save(folder / "x.npy", np.zeros((5, 64, 64, 1), np.float32))
    with pytest.raises(wemd.LayoutError, match=r"shape \(5, 64, 64, 1\), expected \[N, 96, 96, 1\]"):
        wemd.load("stem_96x96", "test")


def test_all_errors_share_one_base():
    for exc in (wemd.UnknownDatasetError, wemd.UnknownSplitError, wemd.DataMissingError,
                wemd.CountMismatchError, wemd.CorruptFileError, wemd.LayoutError, wemd.ManifestError):
        assert issubclass(exc, wemd.WEMDError)
