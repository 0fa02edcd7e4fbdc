"""wemd verify: counts, unreadable and truncated files one by one, non-finite values, sha256."""

import hashlib

import numpy as np
import pytest
import tifffile

from wemd.cli import main
from wemd.manifest import read_manifest, write_manifest
from wemd.verify import verify
from tests.fakedata import make_dataset


def test_clean_copy_passes(home, capsys):
    make_dataset("stem_crops", home)
    report = verify("stem_crops", progress=False)
    assert report.ok and report.checked == 9 and report.counts == {"train": 4, "val": 2, "test": 3}
    assert main(["verify", "stem_crops"]) == 0
    assert "OK: no problems found" in capsys.readouterr().out


def test_every_bad_file_is_named(home, capsys):
    folder = make_dataset("stem_crops", home)
    truncated = folder / "train" / "1.tif"
    truncated.write_bytes(truncated.read_bytes()[:1000])
    (folder / "train" / "2.tif").write_bytes(b"not a tiff at all")
    tifffile.imwrite(folder / "test" / "0.tif", np.full((512, 512), np.nan, np.float32))
    tifffile.imwrite(folder / "test" / "1.tif", np.zeros((256, 512), np.float32))
    report = verify("stem_crops", progress=False)
    text = str(report)
    assert not report.ok and len(report.problems) == 4
    assert "train/1.tif" in text and "train/2.tif" in text
    assert "test/0.tif: 262144 non-finite values" in text
    assert "test/1.tif: shape (256, 512), expected (512, 512)" in text
    assert main(["verify", "stem_crops"]) == 1


def test_split_option_checks_one_split(home):
    folder = make_dataset("stem_crops", home)
    (folder / "train" / "2.tif").write_bytes(b"broken")
    assert verify("stem_crops", split="test", progress=False).ok
    assert not verify("stem_crops", split="train", progress=False).ok


def test_sha256_from_manifest(home):
    folder = make_dataset("stem_96x96", home)
    manifest = read_manifest(folder)
    path = folder / "stem_96x96.npy"
    manifest.files = {"stem_96x96.npy": {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                         "size": path.stat().st_size}}
    write_manifest(folder, manifest)
    assert verify("stem_96x96", progress=False).ok
    arr = np.load(path, mmap_mode="r+")
    arr[0, 0, 0, 0] = 42.0
    arr.flush()
    del arr
    report = verify("stem_96x96", progress=False)
    assert [str(p) for p in report.problems] == ["stem_96x96.npy: sha256 differs from the manifest"]


def test_truncated_array_is_reported(home):
    folder = make_dataset("tem_96x96", home)
    path = folder / "tem_96x96.npy"
    path.write_bytes(path.read_bytes()[:-5000])
    report = verify("tem_96x96", progress=False)
    assert not report.ok and "tem_96x96.npy" in str(report)


def test_missing_wavefunction_metadata(home):
    folder = make_dataset("wavefunctions_single", home)
    next((folder / "val" / "meta").glob("1-*.json")).unlink()
    report = verify("wavefunctions_single", progress=False)
    assert [str(p) for p in report.problems] == ["val/1.npy: no metadata JSON (meta/{i}-{cif}.json)"]


def test_missing_data_is_a_problem_not_a_crash(home):
    report = verify("tem_full", progress=False)
    assert not report.ok and "No data for 'tem_full'" in str(report)


@pytest.mark.parametrize("name", ["stem_full", "tem_full", "tem_96x96", "wavefunctions_96x96",
                                  "wavefunctions_n1", "focal_series", "cifs"])
def test_fake_copy_of_each_family_verifies(home, name):
    make_dataset(name, home)
    report = verify(name, progress=False)
    assert report.ok, str(report)
    assert report.checked == sum(report.counts.values()) > 0


def test_missing_split_and_subset_counts_in_report(home):
    import shutil
    folder = make_dataset("stem_crops", home)
    shutil.rmtree(folder / "test")
    report = verify("stem_crops", progress=False)
    assert [str(p) for p in report.problems] == ["split test: missing on disk (3 items expected)"]
    assert "train             4 items   (expected 4; published 110933)" in str(report)


def test_non_finite_rows_of_an_array_are_named(home):
    folder = make_dataset("stem_96x96", home)
    arr = np.load(folder / "stem_96x96.npy", mmap_mode="r+")
    arr[2, 5, 5, 0], arr[2, 6, 6, 0], arr[4, 0, 0, 0] = np.nan, np.inf, -np.inf
    arr[5] = np.float32(3e38)  # large but finite: sums must not overflow into a false alarm
    arr.flush()
    del arr
    report = verify("stem_96x96", progress=False)
    assert [str(p) for p in report.problems] == ["stem_96x96.npy[2]: 2 non-finite values",
                                                 "stem_96x96.npy[4]: 1 non-finite values"]


def test_a_non_finite_first_row_does_not_hide_the_others(home):
    folder = make_dataset("stem_96x96", home)
    arr = np.load(folder / "stem_96x96.npy", mmap_mode="r+")
    arr[0, 0, 0, 0] = arr[1, 0, 0, 0] = np.nan
    arr[3, 0, 0, 0] = np.inf
    arr.flush()
    del arr
    report = verify("stem_96x96", progress=False)
    assert [p.where for p in report.problems] == ["stem_96x96.npy[0]", "stem_96x96.npy[1]",
                                                  "stem_96x96.npy[3]"]
    assert report.checked == sum(report.counts.values())
