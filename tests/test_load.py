"""wemd.load over fake data in every real layout, for every dataset and split."""

import pickle
import warnings

import numpy as np
import pytest

import wemd
from wemd import catalog
from tests.fakedata import make_dataset, small_counts

CASES = [(name, split) for name, spec in catalog.CATALOG.items() for split in spec.splits]


def expected_value(item: np.ndarray) -> float:
    return float(np.real(np.asarray(item).flat[0]))


@pytest.mark.parametrize("name,split", CASES)
def test_every_dataset_and_split_loads_in_order(home, name, split):
    counts = small_counts(name)
    make_dataset(name, home, counts)
    ds = wemd.load(name, split=split)
    spec = catalog.get(name)
    assert len(ds) == counts[split]
    assert ds.provenance == "subset" and ds.name == name and ds.split == split
    start = spec.split_range(split, counts)[0]
    for i in range(len(ds)):
        item = ds[i]
        if spec.dtype == "str":
            assert str(1000000 + start + i) in item
            assert ds.metadata(i)["cod_id"] == str(1000000 + start + i)
            continue
        assert item.dtype == np.dtype(spec.dtype)
        if spec.item_shape:
            assert item.shape == spec.item_shape
        assert expected_value(item) == start + i


@pytest.mark.parametrize("name", ["stem_crops", "stem_96x96", "wavefunctions", "tem_96x96"])
def test_slices_and_index_arrays_stack(home, name):
    make_dataset(name, home, {"train": 5, "val": 2, "test": 6})
    ds = wemd.load(name, split="test")
    spec = catalog.get(name)
    batch = ds[1:4]
    assert batch.shape == (3,) + spec.item_shape and batch.dtype == np.dtype(spec.dtype)
    assert [expected_value(b) for b in batch] == [8, 9, 10]
    picked = ds[np.array([5, 0, -1])]
    assert [expected_value(b) for b in picked] == [12, 7, 12]
    assert [expected_value(b) for b in ds[np.arange(6) % 2 == 0]] == [7, 9, 11]
    assert len(list(ds)) == 6
    with pytest.raises(IndexError):
        ds[6]


def test_varied_shapes_come_back_as_a_list(home):
    make_dataset("stem_full", home)
    ds = wemd.load("stem_full", split="train")
    items = ds[0:3]
    assert isinstance(items, list) and len({i.shape for i in items}) > 1


def test_split_all_concatenates_in_partition_order(home):
    make_dataset("stem_96x96", home)
    ds = wemd.load("stem_96x96", split="all")
    assert len(ds) == 9
    assert [expected_value(x) for x in ds] == list(range(9))
    assert [ds.metadata(i)["split"] for i in (0, 4, 8)] == ["train", "val", "test"]


def test_validation_alias_and_flat_tiff_layout(home):
    make_dataset("stem_crops", home, layout="flat")
    a = wemd.load("stem_crops", split="validation")
    assert a.split == "val" and [expected_value(x) for x in a] == [4, 5]


def test_per_split_arrays_and_shared_meta_layouts(home):
    make_dataset("tem_96x96", home, layout="per_split")
    assert expected_value(wemd.load("tem_96x96", split="test")[0]) == 6
    make_dataset("wavefunctions_restricted", home, layout="shared_meta")
    ds = wemd.load("wavefunctions_restricted", split="val")
    assert ds.metadata(1)["depth_nm"] == 5.0 + 5
    assert expected_value(ds[1]) == 5


def test_wavefunction_metadata(home):
    make_dataset("wavefunctions", home)
    meta = wemd.load("wavefunctions", split="val").metadata(0)
    assert meta["cif"] == "1000004" and meta["journal"] == "Inorganic Chemistry"
    assert meta["split"] == "val" and meta["provenance"] == "subset"


def test_root_argument_and_dataset_folder_as_root(tmp_path):
    folder = make_dataset("stem_96x96", tmp_path / "elsewhere")
    assert len(wemd.load("stem_96x96", "test", root=tmp_path / "elsewhere")) == 3
    assert len(wemd.load("stem_96x96", "test", root=folder)) == 3


def test_real_counts_without_manifest(home):
    """A full-size array placed by hand (sparse on disk) loads with the published partition."""
    make_dataset("stem_96x96", home, counts=catalog.get("stem_96x96").splits, manifest=False)
    ds = wemd.load("stem_96x96", split="test")
    assert len(ds) == 2966 and ds.provenance == "real"
    assert expected_value(ds[0]) == 14826 + 1977
    assert ds[10:42].shape == (32, 96, 96, 1)


def test_tem_discrepancy_is_reported_not_hidden(home):
    counts = dict(catalog.get("tem_96x96").splits)
    counts["test"] -= 1  # the published array holds 17266 rows
    make_dataset("tem_96x96", home, counts=counts, manifest=False)
    with pytest.warns(UserWarning, match="17267"):
        ds = wemd.load("tem_96x96", split="test")
    assert len(ds) == 3485 and any("17266" in n for n in ds.notes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(wemd.load("tem_96x96", split="train")) == 11350


def test_moving_validation_window(home):
    make_dataset("stem_96x96", home, {"train": 6, "val": 2, "test": 3})
    published = wemd.load("stem_96x96", "val")
    fold0 = wemd.load("stem_96x96", "val", val_fold=0)
    assert [expected_value(x) for x in fold0] == [expected_value(x) for x in published]
    fold2_val = [expected_value(x) for x in wemd.load("stem_96x96", "val", val_fold=2)]
    fold2_train = [expected_value(x) for x in wemd.load("stem_96x96", "train", val_fold=2)]
    assert fold2_val == [2, 3]
    assert sorted(fold2_val + fold2_train) == list(range(8))  # test items 8..10 never move
    assert wemd.load("stem_96x96", "val", val_fold=1).fingerprint() != published.fingerprint()
    with pytest.raises(ValueError, match=r"val_fold must be in \[0, 4\)"):
        wemd.load("stem_96x96", "val", val_fold=4)
    with pytest.raises(wemd.UnknownSplitError):
        wemd.load("stem_96x96", "test", val_fold=1)


def test_fingerprint_depends_on_content_and_provenance(home, tmp_path):
    folder = make_dataset("stem_crops", home)
    fp = wemd.load("stem_crops", "test").fingerprint()
    assert fp.startswith("subset:")
    copy = make_dataset("stem_crops", tmp_path / "copy")  # same bytes elsewhere: same fingerprint
    assert wemd.load("stem_crops", "test", root=tmp_path / "copy").fingerprint() == fp
    import tifffile
    tifffile.imwrite(folder / "test" / "2.tif", np.zeros((512, 512), np.float32))
    assert wemd.load("stem_crops", "test").fingerprint() != fp
    synth = make_dataset("stem_crops", tmp_path / "synth", provenance="synthetic")
    assert wemd.load("stem_crops", "test", root=synth).fingerprint().startswith("synthetic:")
    assert copy.exists()


def test_dataset_pickles_without_data(home):
    make_dataset("stem_96x96", home, {"train": 2000, "val": 2, "test": 3})
    ds = wemd.load("stem_96x96", "train")
    _ = ds[0:2000]  # the memory map is open now
    blob = pickle.dumps(ds)
    assert len(blob) < 20_000
    assert expected_value(pickle.loads(blob)[1999]) == 1999


def test_torch_dataloader_with_two_workers(home):
    torch = pytest.importorskip("torch")
    make_dataset("stem_96x96", home, {"train": 40, "val": 2, "test": 3})
    tds = wemd.load("stem_96x96", "train").torch()
    loader = torch.utils.data.DataLoader(tds, batch_size=8, num_workers=2)
    seen = torch.cat([b[:, 0, 0, 0] for b in loader])
    assert seen.tolist() == list(range(40))


def test_fingerprint_cache_follows_file_changes(home):
    folder = make_dataset("stem_crops", home)
    ds = wemd.load("stem_crops", "val")
    first = ds.fingerprint()
    assert list((home / ".cache" / "fingerprints").glob("*.txt"))
    assert ds.fingerprint() == first
    import os, tifffile
    path = folder / "validation" / "0.tif"
    tifffile.imwrite(path, np.full((512, 512), 99, np.float32))
    os.utime(path, ns=(1, 1))
    assert wemd.load("stem_crops", "val").fingerprint() != first


def test_cifs_from_other_journals_are_unassigned(home):
    from tests.fakedata import cif_text
    folder = make_dataset("cifs", home)
    (folder / "cifs" / "2000000.cif").write_text(cif_text("2000000", "Acta Crystallographica B"))
    ds = wemd.load("cifs", "unassigned")
    assert len(ds) == 1 and ds.metadata(0)["journal"] == "Acta Crystallographica B"
    assert len(wemd.load("cifs", "test")) == 3
