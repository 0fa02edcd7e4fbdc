"""wemd verify on zarr and HDF5 stores (counts, every item's digest, the fingerprint recomputed),
and the messages a user meets when pointing wemd at a store the wrong way."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import wemd
from tests.fakedata import make_dataset
from wemd.stores.common import StoreError
from wemd.stores.convert import convert
from wemd.verify import verify

FORMATS = ["zarr", "hdf5"]


def url_of(home, name, to):
    return str(home / "out") if to == "zarr" else str(home / "out" / f"{name}.h5")


@pytest.mark.parametrize("to", FORMATS)
def test_a_clean_store_verifies_with_the_native_fingerprints(home, to):
    make_dataset("stem_crops", home)
    convert("stem_crops", home / "out", to, progress=False)
    report = verify("stem_crops", source=to, url=url_of(home, "stem_crops", to), progress=False)
    assert report.ok, str(report)
    assert report.counts == {"train": 4, "val": 2, "test": 3} and report.checked == 9
    for split, fp in report.fingerprints.items():
        assert fp == wemd.load("stem_crops", split).fingerprint()
    assert f"{to} store" in str(report) and "OK: no problems found" in str(report)


def tamper_zarr(home, name, split):
    """Overwrite a few bytes inside the data of the first shard of an uncompressed store."""
    shard = sorted((home / "out" / name / split / "items").rglob("c/*/*/*/*"))[0]
    raw = bytearray(shard.read_bytes())
    raw[1000:1010] = b"\x7f" * 10
    shard.write_bytes(bytes(raw))


def tamper_hdf5(path, split):
    """Overwrite a few bytes inside the first chunk of a split's items, where HDF5 put it."""
    import h5py

    with h5py.File(path, "r") as f:
        offset = f[f"{split}/items"].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset + 1000)
        fh.write(b"\x7f" * 10)


@pytest.mark.parametrize("to", FORMATS)
def test_a_tampered_chunk_fails_verify_naming_its_items(home, to):
    make_dataset("stem_96x96", home, {"train": 4, "val": 2, "test": 40})
    convert("stem_96x96", home / "out", to, codec="none", progress=False)
    url = url_of(home, "stem_96x96", to)
    if to == "zarr":
        tamper_zarr(home, "stem_96x96", "test")
    else:
        tamper_hdf5(url, "test")
    report = verify("stem_96x96", source=to, url=url, progress=False)
    text = str(report)
    assert not report.ok and report.checked == 46
    assert [p.where for p in report.problems] == ["stem_96x96.npy[6]"]  # item 0 of test
    assert "differ from the digest" in text and "FAILED: 1 problem(s)" in text
    assert "test" not in report.fingerprints and set(report.fingerprints) == {"train", "val"}


def test_an_edited_index_and_a_missing_split_are_reported(home):
    import zarr

    make_dataset("stem_crops", home)
    convert("stem_crops", home / "out", "zarr", split="val", progress=False)
    arr = zarr.open_array(home / "out" / "stem_crops" / "val" / "index", mode="r+")
    raw = bytearray(bytes(arr[:]))
    raw[raw.index(b'"sha256":["') + 11] ^= 1  # one hex digit of item 0's file digest
    arr[:] = np.frombuffer(bytes(raw), np.uint8)
    report = verify("stem_crops", source="zarr", url=home / "out", progress=False)
    assert not report.ok and "fingerprint the store claims" in str(report)
    assert "no split train, test" in str(report)
    report = verify("stem_crops", "test", source="zarr", url=home / "out", progress=False)
    assert not report.ok and "holds splits val, not 'test'" in str(report)


def test_verify_names_a_store_that_is_not_there(home):
    report = verify("stem_crops", source="hdf5", url=home / "nowhere.h5", progress=False)
    assert not report.ok and "No HDF5 store" in str(report) and "no data read" in str(report)


def test_store_urls_the_way_users_write_them(home, monkeypatch):
    make_dataset("tem_96x96", home)
    convert("tem_96x96", home / "out", "zarr", progress=False)
    convert("tem_96x96", home / "out", "hdf5", progress=False)
    monkeypatch.chdir(home)
    ds = wemd.load("tem_96x96", "test", source="zarr", url="out")  # relative: made absolute,
    assert ds.source.url == str(home / "out")  # so a Dask worker elsewhere reads the same store
    h5 = wemd.load("tem_96x96", "test", source="hdf5", url="out")  # the folder convert wrote
    assert h5.source.path == home / "out" / "tem_96x96.h5"
    with pytest.raises(StoreError, match=r"the store folder OUT \(the one holding OUT/tem_96x96/, not that group\)"):
        wemd.load("tem_96x96", "test", source="zarr", url="out/tem_96x96")
    with pytest.raises(StoreError, match="unknown zarr codec 'lz4'"):  # before 'exists'
        convert("tem_96x96", home / "out", "zarr", codec="lz4", progress=False)


def test_a_remote_store_keeps_its_url_as_root():
    from wemd.dataset import WEMDDataset

    ds = WEMDDataset(wemd.catalog.get("stem_crops"), "test", None, "http://127.0.0.1:9/wemd")
    assert ds.root == "http://127.0.0.1:9/wemd"


@pytest.mark.slow
def test_stats_in_a_script_without_a_main_guard_says_so(home, tmp_path):
    make_dataset("stem_96x96", home)
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import wemd
        wemd.stats("stem_96x96", "test")
    """))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=180, env={**os.environ, "WEMD_HOME": str(home)})
    assert run.returncode != 0
    assert 'if __name__ == "__main__":' in run.stderr and "scheduler=None" in run.stderr


def test_the_chunk_cache_hands_out_copies_and_hashes_each_item_once(home, monkeypatch):
    import wemd.stores.common as common

    make_dataset("stem_96x96", home, {"train": 4, "val": 2, "test": 40})
    convert("stem_96x96", home / "out", "zarr", progress=False)
    native = wemd.load("stem_96x96", "test")[:]
    hashed = []
    real = common.data_digest
    monkeypatch.setattr(common, "data_digest", lambda item: hashed.append(1) or real(item))
    ds = wemd.load("stem_96x96", "test", source="zarr", url=home / "out")
    first = ds[:]
    first[:] = -1  # the caller's copy, not the cache
    assert np.array_equal(ds[:], native) and np.array_equal(ds[[39, 3, 3, 17]], native[[39, 3, 3, 17]])
    assert np.array_equal(np.stack(list(ds)), native)
    assert len(hashed) == 40  # each item checked once while its chunk stays cached
    small = wemd.load("stem_96x96", "test", source="zarr", url=home / "out", cache_mb=0)
    assert np.array_equal(small[5:30], native[5:30]) and np.array_equal(small[7], native[7])
    with pytest.raises(StoreError, match="cache_mb"):
        wemd.load("stem_96x96", "test", source="zarr", url=home / "out", cache_mb=-1)


def test_a_damaged_item_in_a_cached_chunk_fails_every_time(home):
    from wemd.errors import CorruptFileError

    make_dataset("stem_96x96", home, {"train": 4, "val": 2, "test": 40})
    convert("stem_96x96", home / "out", "hdf5", codec="none", progress=False)
    tamper_hdf5(home / "out" / "stem_96x96.h5", "test")
    ds = wemd.load("stem_96x96", "test", source="hdf5", url=home / "out")
    assert np.array_equal(ds[1], wemd.load("stem_96x96", "test")[1])  # its chunk is cached now
    for _ in range(2):
        with pytest.raises(CorruptFileError, match="item 0"):
            ds[0:3]


def test_a_relative_root_gives_absolute_paths_for_workers_elsewhere(home, monkeypatch):
    make_dataset("stem_crops", home)
    monkeypatch.chdir(home.parent)
    ds = wemd.load("stem_crops", "test", root=home.name)
    assert ds.root == home / "stem_crops" and all(p.is_absolute() for p in ds.source.files())
    monkeypatch.chdir(home / "stem_crops")  # a worker started in another folder
    assert ds[0].shape == (512, 512)


@pytest.mark.parametrize("chunking", [{"chunk": [1 << 40, 96, 96, 1], "batch": 1024},
                                      {"chunk": [16], "batch": 1 << 30}, {"chunk": [0], "batch": 8},
                                      {"chunk": "16", "batch": 8}, [16, 1024]])
def test_a_hostile_chunking_attribute_is_refused_before_any_read(home, chunking):
    import json

    from wemd.errors import CorruptFileError

    make_dataset("stem_96x96", home)
    convert("stem_96x96", home / "out", "zarr", progress=False)
    meta_path = home / "out" / "stem_96x96" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"]["wemd"]["chunking"] = chunking  # one read would cover the whole split
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CorruptFileError, match="'chunking' attribute"):
        wemd.load("stem_96x96", "test", source="zarr", url=home / "out")


def test_verify_cli_on_stores(home, capsys):
    """`wemd verify NAME --source hdf5 --url` checks a store and fails on a tampered chunk."""
    from wemd.cli import main

    make_dataset("stem_96x96", home, {"train": 4, "val": 2, "test": 40})
    convert("stem_96x96", home / "out", "hdf5", codec="none", progress=False)
    assert main(["verify", "stem_96x96", "--source", "hdf5", "--url", str(home / "out")]) == 0
    assert "fingerprint test:" in capsys.readouterr().out
    tamper_hdf5(home / "out" / "stem_96x96.h5", "test")
    assert main(["verify", "stem_96x96", "--source", "hdf5", "--url", str(home / "out")]) == 1
    assert "differ from the digest" in capsys.readouterr().out
