"""zarr v3 and HDF5 stores: bit-identical items, the native fingerprint, HTTP reading, and every
bad store (damaged chunk, edited index, another dataset, unfinished, truncated, silent server)."""

import json
import pickle
import socket
import threading
import time

import numpy as np
import pytest

import wemd
from tests.fakedata import make_dataset
from wemd.errors import CorruptFileError, DataMissingError
from wemd.stores.common import StoreError, chunking
from wemd.stores.convert import convert

FORMATS = ["zarr", "hdf5"]


def store_url(home, name, to):
    return str(home / "out") if to == "zarr" else str(home / "out" / f"{name}.h5")


def assert_same(native, stored):
    assert len(native) == len(stored) and stored.provenance == native.provenance
    for i in range(len(native)):
        a, b = native[i], stored[i]
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        assert native.item_id(i) == stored.item_id(i)
    assert stored.fingerprint() == native.fingerprint()


@pytest.mark.parametrize("to", FORMATS)
@pytest.mark.parametrize("name", ["stem_96x96", "stem_crops", "stem_full", "wavefunctions",
                                  "focal_series"])
def test_store_items_and_fingerprint_match_the_native_loader(home, name, to):
    make_dataset(name, home)
    convert(name, home / "out", to, progress=False)
    for split in wemd.catalog.get(name).splits:
        native = wemd.load(name, split)
        assert_same(native, wemd.load(name, split, source=to, url=store_url(home, name, to)))
    meta = wemd.load(name, list(wemd.catalog.get(name).splits)[0], source=to,
                     url=store_url(home, name, to)).metadata(0)
    assert "path" not in meta and meta["id"]  # no local paths of the machine that converted


@pytest.mark.parametrize("to", FORMATS)
def test_all_splits_window_and_one_split_stores(home, to):
    make_dataset("tem_96x96", home, {"train": 6, "val": 2, "test": 3})
    url = store_url(home, "tem_96x96", to)
    convert("tem_96x96", home / "out", to, progress=False)
    assert_same(wemd.load("tem_96x96", "all"), wemd.load("tem_96x96", "all", source=to, url=url))
    assert_same(wemd.load("tem_96x96", "val", val_fold=1),
                wemd.load("tem_96x96", "val", source=to, url=url, val_fold=1))
    with pytest.raises(StoreError, match="exists"):
        convert("tem_96x96", home / "out", to, split="test", progress=False)
    convert("tem_96x96", home / "out", to, split="test", overwrite=True, progress=False)
    assert len(wemd.load("tem_96x96", "test", source=to, url=url)) == 3
    with pytest.raises(DataMissingError, match="--split train"):
        wemd.load("tem_96x96", "train", source=to, url=url)


def test_zarr_chunking_per_family():
    spec = wemd.catalog.get
    assert chunking(spec("stem_96x96")).chunk == (16, 96, 96, 1)
    assert chunking(spec("stem_96x96")).batch == 1024
    assert chunking(spec("wavefunctions_96x96")).chunk[0] == 8
    assert chunking(spec("stem_crops")) .chunk == (1, 512, 512)
    assert chunking(spec("stem_crops")).batch == 64
    assert chunking(spec("tem_full")).chunk == (1, 1024, 1024)
    assert chunking(spec("focal_series")).chunk == (1, 1, 512, 512)


def test_zarr_store_holds_manifest_provenance_and_shards(home):
    make_dataset("stem_crops", home)
    convert("stem_crops", home / "out", "zarr", codec="blosc-zstd", progress=False)
    attrs = json.loads((home / "out" / "stem_crops" / "zarr.json").read_text())["attributes"]["wemd"]
    assert attrs["complete"] is True and attrs["provenance"] == "subset"
    assert attrs["manifest"]["splits"] == {"train": 4, "val": 2, "test": 3}
    assert attrs["splits"]["test"]["fingerprint"] == wemd.load("stem_crops", "test").fingerprint()
    meta = json.loads((home / "out" / "stem_crops" / "test" / "items" / "zarr.json").read_text())
    assert meta["codecs"][0]["name"] == "sharding_indexed"
    assert not list((home / "out").glob(".*partial*"))


def serve_folder(folder):
    from wemd.range_server import serve

    server = serve(folder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def test_zarr_over_http_from_a_static_server(home):
    make_dataset("stem_crops", home)
    make_dataset("wavefunctions", home)
    for name in ("stem_crops", "wavefunctions"):
        convert(name, home / "out", "zarr", progress=False)
    server, thread = serve_folder(home / "out")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        for name in ("stem_crops", "wavefunctions"):
            remote = wemd.load(name, "test", source="zarr", url=url)
            assert remote.source.files() == []  # nothing local: the fingerprint is hashed afresh
            assert_same(wemd.load(name, "test"), remote)
            np.testing.assert_array_equal(remote.to_dask().compute(), wemd.load(name, "test")[:])
        with pytest.raises(StoreError, match="holds no store of stem_96x96"):
            wemd.load("stem_96x96", "test", source="zarr", url=url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_url_that_does_not_answer_times_out_with_a_clear_error(home):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection in the backlog, never answers
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreError, match="server answers"):
            wemd.load("stem_crops", "test", source="zarr",
                      url=f"http://127.0.0.1:{silent.getsockname()[1]}/wemd", timeout=1)
        assert time.monotonic() - t0 < 15
        with pytest.raises(StoreError, match="127.0.0.1"):
            wemd.load("stem_crops", "test", source="zarr", url=f"http://127.0.0.1:{port}/x",
                      timeout=1)
    finally:
        silent.close()


def test_a_damaged_zarr_chunk_is_named(home):
    make_dataset("stem_96x96", home, {"train": 4, "val": 2, "test": 40})
    convert("stem_96x96", home / "out", "zarr", codec="none", progress=False)
    shard = next((home / "out" / "stem_96x96" / "test" / "items").rglob("c/*/*/*/*"))
    raw = bytearray(shard.read_bytes())
    raw[1000:1010] = b"\x7f" * 10  # a few pixels of item 0, inside the shard's data
    shard.write_bytes(bytes(raw))
    ds = wemd.load("stem_96x96", "test", source="zarr", url=home / "out")
    with pytest.raises(CorruptFileError, match=r"stem_96x96.*item 0.*convert stem_96x96 again"):
        ds[0]
    with pytest.raises(CorruptFileError):
        ds.fingerprint()
    assert np.array_equal(ds[20], np.full((96, 96, 1), 26, np.float32))  # other chunks still read
    with pytest.raises(CorruptFileError):
        ds.to_dask().compute()


def test_a_zstd_chunk_that_does_not_decode_is_named(home):
    make_dataset("stem_crops", home)
    convert("stem_crops", home / "out", "zarr", progress=False)
    shard = next((home / "out" / "stem_crops" / "test" / "items").rglob("c/*/*/*"))
    shard.write_bytes(b"\x00" * 64 + shard.read_bytes()[64:])
    ds = wemd.load("stem_crops", "test", source="zarr", url=home / "out")
    with pytest.raises(CorruptFileError, match="stem_crops"):
        ds[:]


@pytest.mark.parametrize("to", FORMATS)
def test_an_edited_index_does_not_pass_for_the_fingerprint(home, to):
    make_dataset("stem_crops", home)
    convert("stem_crops", home / "out", to, progress=False)
    url = store_url(home, "stem_crops", to)
    if to == "zarr":
        import zarr

        arr = zarr.open_array(home / "out" / "stem_crops" / "test" / "index", mode="r")
        index = json.loads(bytes(arr[:]))
    else:
        import h5py

        with h5py.File(url, "r") as f:
            index = json.loads(f["test/index"][:].tobytes())
    index["sha256"][1] = "0" * 64  # claim another TIFF for item 1
    raw = np.frombuffer(json.dumps(index).encode(), np.uint8)
    if to == "zarr":
        arr = zarr.open_array(home / "out" / "stem_crops" / "test" / "index", mode="w",
                              shape=raw.shape, dtype=np.uint8)
        arr[:] = raw
    else:
        with h5py.File(url, "a") as f:
            del f["test/index"]
            f["test/index"] = raw
    with pytest.raises(CorruptFileError, match="fingerprint the store claims"):
        wemd.load("stem_crops", "test", source=to, url=url)
    assert len(wemd.load("stem_crops", "train", source=to, url=url)) == 4  # other splits fine


@pytest.mark.parametrize("to", FORMATS)
def test_a_store_of_another_dataset_is_refused(home, to):
    make_dataset("tem_96x96", home)
    convert("tem_96x96", home / "out", to, progress=False)
    if to == "zarr":
        (home / "out" / "tem_96x96").rename(home / "out" / "stem_96x96")
    else:
        (home / "out" / "tem_96x96.h5").rename(home / "out" / "stem_96x96.h5")
    with pytest.raises(StoreError, match="holds 'tem_96x96', not 'stem_96x96'"):
        wemd.load("stem_96x96", "test", source=to, url=store_url(home, "stem_96x96", to))


@pytest.mark.parametrize("to", FORMATS)
def test_an_interrupted_conversion_leaves_nothing_that_looks_whole(home, monkeypatch, to):
    import wemd.stores.common as common

    make_dataset("stem_96x96", home)
    real = common.read_split

    def dies(ds, progress=False):
        for k, row in enumerate(real(ds, progress)):
            if ds.split == "test" and k == 1:
                raise KeyboardInterrupt
            yield row

    monkeypatch.setattr(common, "read_split", dies)
    with pytest.raises(KeyboardInterrupt):
        convert("stem_96x96", home / "out", to, progress=False)
    assert sorted(p.name for p in (home / "out").iterdir()) in ([], ["zarr.json"])
    with pytest.raises(StoreError, match="No |holds no store of stem_96x96"):
        wemd.load("stem_96x96", "test", source=to, url=store_url(home, "stem_96x96", to))


def test_a_zarr_store_without_its_completion_marker_is_refused(home):
    make_dataset("stem_96x96", home)
    convert("stem_96x96", home / "out", "zarr", progress=False)
    meta_path = home / "out" / "stem_96x96" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"]["wemd"]["complete"] = False
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="incomplete.*wemd convert stem_96x96"):
        wemd.load("stem_96x96", "test", source="zarr", url=home / "out")


def test_a_truncated_hdf5_file_is_named(home):
    make_dataset("stem_crops", home)
    path = convert("stem_crops", home / "out", "hdf5", progress=False)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match=r"stem_crops.h5.*truncated"):
        wemd.load("stem_crops", "test", source="hdf5", url=path)
    with pytest.raises(StoreError, match="No HDF5 store"):
        wemd.load("stem_crops", "test", source="hdf5", url=home / "nothing.h5")


def test_hdf5_store_is_plain_hdf5_with_one_dataset_per_split(home):
    import h5py

    make_dataset("tem_96x96", home)
    path = convert("tem_96x96", home / "out", "hdf5", codec="lzf", progress=False)
    with h5py.File(path, "r") as f:
        assert f["test/items"].shape == (3, 96, 96, 1) and f["test/items"].compression == "lzf"
        attrs = json.loads(f.attrs["wemd"])
        assert attrs["dataset"] == "tem_96x96" and attrs["complete"] is True
        np.testing.assert_array_equal(f["test/items"][:], wemd.load("tem_96x96", "test")[:])


@pytest.mark.parametrize("source", ["local", "zarr", "hdf5"])
def test_to_dask_is_lazy_with_one_chunk_per_batch(home, monkeypatch, source):
    make_dataset("stem_96x96", home, {"train": 4, "val": 2, "test": 40})
    kwargs = {}
    if source != "local":
        convert("stem_96x96", home / "out", source, progress=False)
        kwargs["url"] = store_url(home, "stem_96x96", source)
    ds = wemd.load("stem_96x96", "test", source=source, **kwargs)
    reads = []
    real = type(ds.source).get_many
    monkeypatch.setattr(type(ds.source), "get_many", lambda s, idx: reads.append(len(idx)) or real(s, idx))
    x = ds.to_dask(batch=16)
    assert reads == [] and x.chunks[0] == (16, 16, 8) and x.dtype == np.float32
    np.testing.assert_array_equal(x[17:19].compute()[:, 0, 0, 0], [17 + 6, 18 + 6])
    assert reads == [16]
    assert ds.to_dask().chunks[0] == (40,)  # default: the store's batch (1024 items)


def test_to_dask_refuses_varied_shapes_and_datasets_pickle_small(home):
    make_dataset("stem_full", home)
    convert("stem_full", home / "out", "zarr", progress=False)
    ds = wemd.load("stem_full", "test", source="zarr", url=home / "out")
    with pytest.raises(wemd.WEMDError, match="vary in shape"):
        ds.to_dask()
    ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds)) < 20_000 and clone[1].tobytes() == ds[1].tobytes()


def test_cifs_have_no_store(home):
    make_dataset("cifs", home)
    with pytest.raises(StoreError, match="text"):
        convert("cifs", home / "out", "zarr", progress=False)
    with pytest.raises(StoreError, match="url="):
        wemd.load("stem_96x96", "test", source="zarr")


def test_convert_cli(home, capsys):
    from wemd.cli import main

    make_dataset("stem_96x96", home)
    assert main(["convert", "stem_96x96", str(home / "out"), "--to", "hdf5", "--split", "test"]) == 0
    assert "stem_96x96.h5" in capsys.readouterr().out
    h5 = str(home / "out" / "stem_96x96.h5")
    assert len(wemd.load("stem_96x96", "test", source="hdf5", url=h5)) == 3
    assert main(["convert", "stem_96x96", str(home / "z"), "--source", "hdf5", "--url", h5,
                 "--split", "test"]) == 0  # a store converts into the other format
    assert wemd.load("stem_96x96", "test", source="zarr", url=home / "z").fingerprint() == \
        wemd.load("stem_96x96", "test").fingerprint()
    assert main(["stats", "stem_96x96", "--split", "test", "--source", "zarr", "--url",
                 str(home / "z"), "--scheduler", "none"]) == 0
    assert "stem_96x96/test: 3 items" in capsys.readouterr().out


def test_a_store_cannot_make_the_reader_allocate_a_huge_image(home):
    import zarr

    make_dataset("stem_full", home)
    convert("stem_full", home / "out", "zarr", progress=False)
    zarr.create_array(home / "out" / "stem_full" / "test" / "images" / "0", shape=(100_000, 100_000),
                      chunks=(1024, 1024), dtype="float32", overwrite=True)  # metadata only
    ds = wemd.load("stem_full", "test", source="zarr", url=home / "out")
    with pytest.raises(CorruptFileError, match=r"declares shape \(100000, 100000\)"):
        ds[0]
    assert ds[1].tobytes() == wemd.load("stem_full", "test")[1].tobytes()


@pytest.mark.parametrize("what", ["images/0", "index"])
def test_a_store_cannot_make_the_reader_allocate_through_a_huge_dtype(home, what):
    """Few elements of a megabyte each: within the element bound, a terabyte to read."""
    import h5py

    make_dataset("stem_full", home)
    path = convert("stem_full", home / "out", "hdf5", progress=False)
    with h5py.File(path, "a") as f:
        shape = (1024, 1024) if what != "index" else (1 << 20,)
        del f[f"test/{what}"]
        f.create_dataset(f"test/{what}", shape=shape, dtype="S1048576",
                         chunks=(1,) * len(shape))  # metadata only: no chunk is written
    with pytest.raises(CorruptFileError, match=rf"test/{what} declares dtype \|S1048576"):
        wemd.load("stem_full", "test", source="hdf5", url=path)[0]


@pytest.mark.parametrize("how", ["external storage", "external link", "virtual dataset"])
def test_an_hdf5_store_cannot_make_the_reader_read_other_files(home, tmp_path, how):
    import h5py

    make_dataset("stem_full", home)
    path = convert("stem_full", home / "out", "hdf5", progress=False)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(64, dtype=np.float32).tobytes())
    with h5py.File(tmp_path / "other.h5", "w") as other:
        other["x"] = np.zeros((4, 4), np.float32)
    with h5py.File(path, "a") as f:
        del f["test/images/0"]
        if how == "external storage":
            f.create_dataset("test/images/0", shape=(4, 4), dtype="float32",
                             external=[(str(secret), 0, 64)])
        elif how == "external link":
            f["test/images/0"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "x")
        else:
            layout = h5py.VirtualLayout(shape=(4, 4), dtype="float32")
            layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "x", shape=(4, 4))
            f.create_virtual_dataset("test/images/0", layout)
    ds = wemd.load("stem_full", "test", source="hdf5", url=path)
    with pytest.raises(CorruptFileError, match="test/images/0 points to data outside the file"):
        ds[0]  # was: read from the other file, then refused only by the digest
    assert ds[1].tobytes() == wemd.load("stem_full", "test")[1].tobytes()


def test_a_missing_chunk_file_is_damage_not_zeros(home):
    make_dataset("stem_crops", home)
    convert("stem_crops", home / "out", "zarr", progress=False)
    shard = next((home / "out" / "stem_crops" / "val" / "items").rglob("c/*/*/*"))
    shard.unlink()  # a partial upload: zarr would hand back its fill value
    ds = wemd.load("stem_crops", "val", source="zarr", url=home / "out")
    with pytest.raises(CorruptFileError, match="differ from the digest"):
        ds[0]


def test_a_web_server_without_range_requests_is_named_not_blamed_on_the_store(home):
    """Python's http.server answers byte ranges with the whole file; the store is not damaged."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    make_dataset("stem_crops", home)
    convert("stem_crops", home / "out", "zarr", progress=False)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(home / "out"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(StoreError, match="ignores HTTP Range requests.*wemd mirror serve"):
            wemd.load("stem_crops", "test", source="zarr",
                      url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
