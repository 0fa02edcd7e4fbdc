"""Folders laid out exactly as the authors' scripts wrote their files load with the published
partition, and `wemd verify` accepts them (scripts: `cropping/`, `create_96x96/` of the authors'
public `datasets` repository)."""

import numpy as np
import pytest
import tifffile

import wemd
from wemd.cli import main
from wemd.errors import CorruptFileError, LayoutError
from wemd.manifest import Manifest, write_manifest
from wemd.verify import verify


def test_crops_named_train1_to_trainK_load_in_numerical_order(home, capsys):
    """crop_arm_scans.py writes {split}/{split}{k}.tif with k from 1 in each split."""
    counts = {"train": 12, "val": 2, "test": 11}
    folder = home / "stem_crops"
    g = 0
    for split, n in counts.items():
        (folder / split).mkdir(parents=True)
        for k in range(1, n + 1):
            tifffile.imwrite(folder / split / f"{split}{k}.tif",
                             np.full((512, 512), g, np.float32), compression="zlib")
            g += 1
    write_manifest(folder, Manifest(dataset="stem_crops", provenance="subset", splits=counts))
    train = wemd.load("stem_crops", "train")
    assert [train.item_id(i) for i in (8, 9, 10, 11)] == [
        "train/train9.tif", "train/train10.tif", "train/train11.tif", "train/train12.tif"]
    assert [float(train[i][0, 0]) for i in range(12)] == list(range(12))
    assert [float(x[0, 0]) for x in wemd.load("stem_crops", "test")] == list(range(14, 25))
    assert verify("stem_crops", progress=False).ok
    assert main(["verify", "stem_crops"]) == 0
    assert "OK: no problems found" in capsys.readouterr().out


def _authors_array(path, total, item_shape, marks):
    """A sparse .npy of the published size whose rows in ``marks`` hold their own index."""
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(total,) + item_shape)
    for r in marks:
        arr[r] = r
    arr.flush()
    del arr


def test_the_authors_96x96_arrays_side_by_side_load_and_verify(tmp_path, capsys):
    """96x96-tem.npy (17266 rows) and wavefunctions_single_n=3.npy lying in one folder."""
    _authors_array(tmp_path / "96x96-tem.npy", 17266, (96, 96, 1), (0, 11350, 13781, 17265))
    _authors_array(tmp_path / "wavefunctions_single_n=3.npy", 4825, (96, 96, 2), (3861, 4824))
    tem = wemd.load("tem_96x96", "val", root=tmp_path)
    assert len(tem) == 2431 and tem[0][0, 0, 0] == 11350
    assert tem.item_id(0) == "96x96-tem.npy[11350]"
    test = wemd.load("tem_96x96", "test", root=tmp_path)
    assert len(test) == 3485 and test[0][0, 0, 0] == 13781 and test[-1][0, 0, 0] == 17265
    single = wemd.load("wavefunctions_96x96_single", "val", root=tmp_path)
    assert len(single) == 964 and single[0][0, 0, 0] == 3861 and single[-1][0, 0, 1] == 4824
    report = verify("tem_96x96", root=tmp_path, progress=False)
    assert report.ok and report.counts == {"train": 11350, "val": 2431, "test": 3485}
    assert main(["verify", "wavefunctions_96x96_single", "--root", str(tmp_path)]) == 0
    assert "OK" in capsys.readouterr().out


def test_the_authors_file_is_chosen_among_other_arrays(home):
    folder = home / "wavefunctions_96x96_single"
    folder.mkdir()
    _authors_array(folder / "wavefunctions_single_n=3.npy", 4825, (96, 96, 2), (3861,))
    np.save(folder / "pca_embeddings.npy", np.zeros((4825, 50), np.float32))
    assert wemd.load("wavefunctions_96x96_single", "val")[0][0, 0, 0] == 3861


def test_the_authors_float64_crops_file_reads_as_float32_items(home, capsys):
    """create_96x96_stem_crops.py stacks float32 pixels into np.zeros (float64)."""
    folder = home / "stem_crops_96x96"
    folder.mkdir()
    write_manifest(folder, Manifest("stem_crops_96x96", "subset", {"train": 6, "val": 2,
                                                                   "test": 4}))
    items = (np.random.default_rng(0).random((12, 96, 96, 1)) * 1000).astype(np.float32)
    path = folder / "96x96_stem_crops.npy"
    np.save(path, items.astype(np.float64))
    test = wemd.load("stem_crops_96x96", "test")
    assert test[0].dtype == np.float32 and test[0].tobytes() == items[8].tobytes()
    assert test[:3].tobytes() == items[8:11].tobytes()
    assert test[[3, 1]].tobytes() == items[[11, 9]].tobytes()
    assert test.to_dask().dtype == np.float32
    # the fingerprint is of the float32 items: the same as the same rows stored as float32
    np.save(path, items)
    as_float32 = wemd.load("stem_crops_96x96", "test").fingerprint()
    np.save(path, items.astype(np.float64))
    assert wemd.load("stem_crops_96x96", "test").fingerprint() == as_float32
    assert main(["verify", "stem_crops_96x96"]) == 0
    capsys.readouterr()

    rounded = items.astype(np.float64)
    rounded[10, 5, 5, 0] += 1e-9  # not a float32 value: refused, never rounded
    np.save(path, rounded)
    with pytest.raises(CorruptFileError, match="row 10 holds float64 values that are not"):
        wemd.load("stem_crops_96x96", "test")[2]
    report = verify("stem_crops_96x96", progress=False)
    assert not report.ok and "row 10 holds" in str(report)
    np.save(folder / "other.npy", items.astype(np.float64))
    path.unlink()  # float64 is the authors' file's licence only
    with pytest.raises(LayoutError, match="has dtype float64, expected float32"):
        wemd.load("stem_crops_96x96", "test")
