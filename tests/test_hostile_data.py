"""Hostile and careless dataset folders: every case here once gave wrong data, a stale fingerprint
or a raw traceback. Fake data is made by code in the real layouts (tests/fakedata.py)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tifffile

import wemd
from wemd.errors import CorruptFileError, LayoutError, ManifestError
from wemd.manifest import file_entries, read_manifest, write_manifest
from wemd.verify import verify
from tests.fakedata import make_dataset


def _rewrite_same_size(path, value, keep_times=True):
    """Overwrite a fake float32 TIFF in place with other pixels, same size, same times."""
    st = path.stat()
    tifffile.imwrite(path, np.full(tifffile.imread(path).shape, value, np.float32))
    assert path.stat().st_size == st.st_size and path.stat().st_ino == st.st_ino
    if keep_times:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert path.stat().st_mtime_ns == st.st_mtime_ns


# --- 4: a fingerprint describes the bytes on disk -------------------------------------------

def test_replaced_file_changes_the_fingerprint_whatever_the_manifest_lists(home):
    folder = make_dataset("stem_crops", home)
    manifest = read_manifest(folder)
    manifest.files = file_entries(folder, sorted(folder.rglob("*.tif")))
    write_manifest(folder, manifest)
    published = wemd.load("stem_crops", "test").fingerprint()
    _rewrite_same_size(folder / "test" / "2.tif", 77.0, keep_times=False)
    assert wemd.load("stem_crops", "test").fingerprint() != published
    assert [str(p) for p in verify("stem_crops", progress=False).problems] == [
        "test/2.tif: sha256 differs from the manifest"]


def test_same_size_rewrite_with_restored_mtime_is_not_served_from_the_cache(home):
    folder = make_dataset("stem_crops", home)
    first = wemd.load("stem_crops", "val").fingerprint()
    _rewrite_same_size(folder / "validation" / "1.tif", 55.0)
    assert wemd.load("stem_crops", "val").fingerprint() != first


def test_file_replaced_by_rename_with_restored_mtime_changes_the_fingerprint(home, tmp_path):
    folder = make_dataset("stem_crops", home)
    first = wemd.load("stem_crops", "test").fingerprint()
    path = folder / "test" / "0.tif"
    st = path.stat()
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, np.full((512, 512), 31.0, np.float32))
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)
    assert wemd.load("stem_crops", "test").fingerprint() != first


def test_cache_serves_data_that_settled_before_it_was_hashed(home, monkeypatch):
    """Repeated fingerprints of unchanged data are read from the cache, not recomputed."""
    import time

    import wemd.dataset

    monkeypatch.setattr(wemd.dataset, "RACY_WINDOW_NS", 50_000_000)
    make_dataset("stem_crops", home)
    time.sleep(0.2)  # the files are now older than the window
    ds = wemd.load("stem_crops", "test")
    first = ds.fingerprint()
    (cache,) = (home / ".cache" / "fingerprints").glob("*.txt")
    lines = cache.read_text().splitlines()
    assert lines[0] == first
    cache.write_text("\n".join(["subset:from-the-cache"] + lines[1:]) + "\n")
    assert wemd.load("stem_crops", "test").fingerprint() == "subset:from-the-cache" != first


# --- 12: a wrong shape or dtype is reported, never broadcast or cast ---------------------------

def test_one_row_tiff_in_tem_full_is_refused_not_broadcast(home):
    folder = make_dataset("tem_full", home, {"train": 2, "val": 1, "test": 1})
    tifffile.imwrite(folder / "train" / "1.tif", np.ones((1, 2048), np.float32))
    ds = wemd.load("tem_full", "train")
    with pytest.raises(CorruptFileError, match=r"train/1\.tif.*shape \(1, 2048\), expected \(2048, 2048\)"):
        ds[0:2]
    with pytest.raises(CorruptFileError, match=r"1\.tif"):
        ds[1]
    assert ds[0].shape == (2048, 2048)
    report = verify("tem_full", progress=False)
    assert [str(p) for p in report.problems] == ["train/1.tif: shape (1, 2048), expected (2048, 2048)"]


@pytest.mark.parametrize("dtype", ["uint32", "float64", "complex64", "uint16"])
def test_tiff_of_a_dtype_the_catalog_does_not_accept_is_reported(home, dtype):
    folder = make_dataset("stem_crops", home)
    tifffile.imwrite(folder / "test" / "1.tif", np.ones((512, 512), dtype))
    ds = wemd.load("stem_crops", "test")
    with pytest.raises(CorruptFileError, match=rf"test/1\.tif.*dtype {dtype}, expected float32"):
        ds[1]
    report = verify("stem_crops", progress=False)
    assert [str(p) for p in report.problems] == [f"test/1.tif: dtype {dtype}, expected float32"]


def test_wavefunction_of_another_dtype_is_reported(home):
    folder = make_dataset("wavefunctions_single", home)
    np.save(folder / "train" / "2.npy", np.ones((320, 320), np.complex128))
    np.save(folder / "val" / "0.npy", np.ones((320, 320), np.float32))
    report = verify("wavefunctions_single", progress=False)
    assert sorted(str(p) for p in report.problems) == [
        "train/2.npy: dtype complex128, expected complex64",
        "val/0.npy: dtype float32, expected complex64"]
    with pytest.raises(CorruptFileError, match="complex128"):
        wemd.load("wavefunctions_single", "train")[2]


def test_focal_series_frames_of_other_shapes_or_dtypes_are_reported(home):
    folder = make_dataset("focal_series", home, {"all": 3})
    tifffile.imwrite(folder / "1" / "5.tif", np.ones((256, 512), np.float32))
    tifffile.imwrite(folder / "2" / "0.tif", np.ones((512, 512), np.uint16))
    ds = wemd.load("focal_series", "all")
    assert ds[0].shape == (14, 512, 512)
    with pytest.raises(CorruptFileError, match="1"):
        ds[1]
    problems = sorted(str(p) for p in verify("focal_series", progress=False).problems)
    assert len(problems) == 2 and problems[0].startswith("1: ") and "(256, 512)" in problems[0]
    assert problems[1] == "2: 0.tif: dtype uint16, expected float32"


def test_good_big_endian_items_load_as_the_catalog_dtype(home):
    folder = make_dataset("stem_crops", home)
    tifffile.imwrite(folder / "test" / "1.tif", np.full((512, 512), 4.0, ">f4"), byteorder=">")
    waves = make_dataset("wavefunctions_single", home)
    np.save(waves / "val" / "1.npy", np.full((320, 320), 2 + 1j, ">c8"))
    item = wemd.load("stem_crops", "test")[1]
    assert item.dtype == np.float32 and item.dtype.isnative and float(item[0, 0]) == 4.0
    wave = wemd.load("wavefunctions_single", "val")[1]
    assert wave.dtype == np.complex64 and wave.dtype.isnative and wave[0, 0] == 2 + 1j
    assert verify("stem_crops", progress=False).ok and verify("wavefunctions_single", progress=False).ok


# --- 13: malformed input gives a WEMDError naming the file and the fix -----------------------

def test_manifest_that_is_a_json_list(home):
    folder = make_dataset("stem_96x96", home)
    (folder / "wemd.json").write_text("[1, 2, 3]")
    with pytest.raises(ManifestError, match=r"wemd\.json.*JSON object"):
        wemd.load("stem_96x96", "test")
    assert "JSON object" in str(verify("stem_96x96", progress=False))


def test_manifest_that_is_not_utf8(home):
    folder = make_dataset("stem_96x96", home)
    (folder / "wemd.json").write_bytes(b'{"format": "wemd-manifest/1", "dataset": "stem_96\xff"}')
    with pytest.raises(ManifestError, match=r"wemd\.json.*UTF-8"):
        wemd.load("stem_96x96", "test")


@pytest.mark.parametrize("field, value", [("splits", [4, 2, 3]), ("files", ["a.tif"]),
                                          ("files", {"a.tif": "0" * 64}), ("dataset", ["stem_96x96"])])
def test_manifest_fields_of_the_wrong_type(home, field, value):
    folder = make_dataset("stem_96x96", home)
    raw = json.loads((folder / "wemd.json").read_text())
    raw[field] = value
    (folder / "wemd.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=rf"wemd\.json.*'{field}'"):
        wemd.load("stem_96x96", "test")


def test_wavefunction_metadata_that_is_a_list_or_not_utf8(home):
    folder = make_dataset("wavefunctions_single", home)
    next((folder / "train" / "meta").glob("1-*.json")).write_text("[1, 2]")
    next((folder / "train" / "meta").glob("2-*.json")).write_bytes(b'{"cif": "\xff"}')
    ds = wemd.load("wavefunctions_single", "train")
    with pytest.raises(CorruptFileError, match=r"1-1000001\.json.*JSON object"):
        ds.metadata(1)
    with pytest.raises(CorruptFileError, match=r"2-1000002\.json.*UTF-8"):
        ds.metadata(2)
    problems = [str(p) for p in verify("wavefunctions_single", progress=False).problems]
    assert len(problems) == 2 and problems[0].startswith("train/1.npy: ")


def test_superscript_digit_file_names_are_not_items(home):
    """'²'.isdigit() is True but int('²') fails; such a file is no item of the layout."""
    folder = make_dataset("wavefunctions_single", home)
    np.save(folder / "train" / "².npy", np.ones((320, 320), np.complex64))
    np.save(folder / "train" / "٣.npy", np.ones((320, 320), np.complex64))  # Arabic-Indic 3
    ds = wemd.load("wavefunctions_single", "train")
    assert [ds.item_id(i) for i in range(len(ds))] == [f"train/{k}.npy" for k in range(4)]
    crops = make_dataset("stem_crops", home)
    tifffile.imwrite(crops / "train" / "².tif", np.ones((512, 512), np.float32))
    with pytest.raises(wemd.CountMismatchError, match="split 'train' holds 5 items but 4"):
        wemd.load("stem_crops", "train")


def test_non_utf8_tiff_name_is_a_layout_error_naming_the_file(home):
    folder = make_dataset("stem_crops", home)
    bad = os.fsdecode(os.fsencode(str(folder / "test")) + b"/\xff2.tif")
    os.replace(folder / "test" / "2.tif", bad)
    with pytest.raises(LayoutError, match=r"\\udcff2\.tif.*[Rr]ename"):
        wemd.load("stem_crops", "test")
    assert "\\udcff2.tif" in str(verify("stem_crops", progress=False))


def test_data_home_with_a_non_utf8_name_fingerprints(tmp_path, monkeypatch):
    """Only item names must be UTF-8; the folder the user chose may have any name."""
    home = os.fsdecode(os.fsencode(str(tmp_path)) + b"/home\xff")
    monkeypatch.setenv("WEMD_HOME", home)
    make_dataset("stem_96x96", home)
    fp = wemd.load("stem_96x96", "test").fingerprint()
    assert fp.startswith("subset:") and wemd.load("stem_96x96", "test").fingerprint() == fp
