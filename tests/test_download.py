"""End-to-end downloads from mirrors served by a real HTTP server on 127.0.0.1."""

import socket
import threading

import numpy as np
import pytest

import wemd
from wemd.cli import main
from wemd.download import (CorruptShardError, DownloadError, ManualDownloadRequired, OfflineError,
                           download)
from wemd.manifest import read_manifest
from wemd.mirror import build_mirror
from wemd.range_server import RangeRequestHandler, serve
from wemd.verify import verify
from tests.fakedata import make_dataset


class FlakyHandler(RangeRequestHandler):
    """Drops the connection after ``cut`` bytes of the first full request of each file."""

    cut = 0
    seen: list = []
    dropped: set = set()

    def copyfile(self, source, outputfile):
        type(self).seen.append((self.path, self.headers.get("Range")))
        if self.cut and self._range_left is None and self.path.endswith(".tar") \
                and self.path not in self.dropped:
            type(self).dropped.add(self.path)
            outputfile.write(source.read(self.cut))
            outputfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        super().copyfile(source, outputfile)


@pytest.fixture
def site(tmp_path):
    """A mirror of fake wavefunctions and tem_96x96, served over HTTP; yields (url, site folder)."""
    src = tmp_path / "src"
    for name in ("wavefunctions", "tem_96x96"):
        make_dataset(name, src)
        build_mirror(name, tmp_path / "site", root=src, progress=False)
    FlakyHandler.cut, FlakyHandler.seen, FlakyHandler.dropped = 0, [], set()
    server = serve(tmp_path / "site", handler=FlakyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path / "site", src
    server.shutdown()
    server.server_close()
    thread.join(5)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def assert_same_items(name, split, home, src):
    got, want = wemd.load(name, split), wemd.load(name, split, root=src)
    assert len(got) == len(want) > 0
    for i in range(len(got)):
        assert np.array_equal(got[i], want[i])
    assert got.fingerprint() == want.fingerprint()
    assert got.provenance == "subset"


def test_clean_download_is_verified_identical_and_leaves_no_cache(home, site):
    url, _, src = site
    result = download("wavefunctions", mirrors=[url], progress=False)
    assert not result.skipped and result.mirror == url and result.shards == 3
    for split in ("train", "val", "test"):
        assert_same_items("wavefunctions", split, home, src)
    assert wemd.load("wavefunctions", "test").metadata(0)["cif"] == "1000006"
    manifest = read_manifest(home / "wavefunctions")
    assert manifest.provenance == "subset" and "test/0.npy" in manifest.files
    assert not (home / ".downloads").exists()
    assert verify("wavefunctions", progress=False).ok
    again = download("wavefunctions", mirrors=[url], progress=False)
    assert again.skipped


def test_split_download_fetches_only_that_split_then_merges(home, site):
    url, _, src = site
    download("wavefunctions", split="test", mirrors=[url], progress=False)
    assert sorted(p.name for p in (home / "wavefunctions").iterdir()) == ["test", "wemd.json"]
    assert_same_items("wavefunctions", "test", home, src)
    with pytest.raises(wemd.DataMissingError, match="train"):
        wemd.load("wavefunctions", "train")
    download("wavefunctions", split="validation", mirrors=[url], progress=False)
    assert_same_items("wavefunctions", "val", home, src)
    assert_same_items("wavefunctions", "test", home, src)
    FlakyHandler.seen.clear()
    rest = download("wavefunctions", mirrors=[url], progress=False)  # only train is left to fetch
    assert rest.shards == 1 and [p for p, _ in FlakyHandler.seen if p.endswith(".tar")] == \
        ["/wavefunctions/wavefunctions-train-0000.tar"]
    for split in ("train", "val", "test"):
        assert_same_items("wavefunctions", split, home, src)
    assert verify("wavefunctions", progress=False).ok


def test_positional_layout_downloads_whole_array_with_a_note(home, site):
    url, _, src = site
    result = download("tem_96x96", split="test", mirrors=[url], progress=False)
    assert "whole dataset" in result.notes[0]
    assert_same_items("tem_96x96", "test", home, src)


def test_corrupted_shard_names_shard_and_mirror_and_leaves_nothing(home, site):
    url, folder, _ = site
    shard = folder / "wavefunctions" / "wavefunctions-test-0000.tar"
    data = bytearray(shard.read_bytes())
    data[-2000] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(CorruptShardError) as err:
        download("wavefunctions", mirrors=[url], progress=False)
    assert "wavefunctions-test-0000.tar" in str(err.value) and url in str(err.value)
    assert not (home / "wavefunctions").exists()
    assert not any(home.rglob("*.tar*"))
    assert [p.name for p in home.iterdir()] in ([], [".downloads"])


def test_interrupted_download_resumes_with_range_to_identical_bytes(home, site):
    url, _, src = site
    FlakyHandler.cut = 100_000
    with pytest.raises(DownloadError, match="resume"):
        download("tem_96x96", mirrors=[url], retries=0, progress=False)
    parts = list((home / ".downloads" / "tem_96x96").glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == 100_000
    assert not (home / "tem_96x96").exists()
    download("tem_96x96", mirrors=[url], retries=0, progress=False)
    assert ("/tem_96x96/tem_96x96-all-0000.tar", "bytes=100000-") in FlakyHandler.seen
    for split in ("train", "val", "test"):
        assert_same_items("tem_96x96", split, home, src)


def test_retry_within_one_call_resumes(home, site):
    url, _, src = site
    FlakyHandler.cut = 50_000
    download("tem_96x96", mirrors=[url], retries=1, progress=False)
    assert ("/tem_96x96/tem_96x96-all-0000.tar", "bytes=50000-") in FlakyHandler.seen
    assert_same_items("tem_96x96", "train", home, src)


def test_first_mirror_down_second_used(home, site):
    url, _, src = site
    dead = closed_port_url()
    result = download("tem_96x96", mirrors=[dead, url], retries=0, progress=False)
    assert result.mirror == url
    assert_same_items("tem_96x96", "val", home, src)


def test_all_mirrors_down_or_wrong_is_a_clear_error(home, site):
    url, folder, _ = site
    dead = closed_port_url()
    (folder / "wrong" / "tem_96x96").mkdir(parents=True)
    (folder / "wrong" / "tem_96x96" / "mirror.json").write_text("<html>not found</html>")
    with pytest.raises(DownloadError, match="No mirror served tem_96x96/mirror.json") as err:
        download("tem_96x96", mirrors=[dead, f"{url}/wrong"], progress=False)
    assert dead in str(err.value) and "not valid JSON" in str(err.value)
    assert download("tem_96x96", mirrors=[f"{url}/wrong", url], progress=False).mirror == url


def test_offline_forbids_network_and_names_what_is_missing(home, site, monkeypatch):
    url, _, _ = site
    monkeypatch.setenv("WEMD_OFFLINE", "1")
    with pytest.raises(OfflineError) as err:
        download("wavefunctions", split="test", mirrors=[url], progress=False)
    assert "WEMD_OFFLINE=1" in str(err.value) and "test" in str(err.value)
    assert FlakyHandler.seen == []
    monkeypatch.delenv("WEMD_OFFLINE")
    download("wavefunctions", split="test", mirrors=[url], progress=False)
    monkeypatch.setenv("WEMD_OFFLINE", "1")
    assert download("wavefunctions", split="test", progress=False).skipped
    with pytest.raises(OfflineError, match="train"):
        download("wavefunctions", progress=False)


def test_without_mirror_explains_manual_download(home, capsys, monkeypatch):
    monkeypatch.delenv("WEMD_MIRRORS", raising=False)
    with pytest.raises(ManualDownloadRequired) as err:
        download("stem_96x96")
    text = str(err.value)
    assert wemd.catalog.LANDING_PAGE in text and wemd.catalog.DATA_DOI in text
    assert str(home / "stem_96x96") in text and "wemd verify stem_96x96" in text
    assert main(["download", "stem_96x96"]) == 1
    assert "wemd path stem_96x96" in capsys.readouterr().err


def test_manual_instructions_list_verified_files_once_registered(home, monkeypatch):
    from wemd import official

    assert "No verified download URL" in official.manual_instructions("tem_96x96")
    url, digest = "https://data.example/tem_96x96.npy", "sha256:" + "ab" * 32
    monkeypatch.setitem(official.VERIFIED_FILES, "tem_96x96", {url: digest})
    text = official.manual_instructions("tem_96x96")
    assert f"{url}  ({digest})" in text and "No verified" not in text
    assert "No verified download URL" in official.manual_instructions("stem_96x96")


def test_cli_download_and_mirror_env(home, site, monkeypatch, capsys):
    url, _, src = site
    monkeypatch.setenv("WEMD_MIRRORS", f"{closed_port_url()} {url}")
    assert main(["download", "wavefunctions", "--split", "val", "--no-progress", "--retries", "0"]) == 0
    assert "verified" in capsys.readouterr().out
    assert_same_items("wavefunctions", "val", home, src)


def test_foreign_data_in_the_target_is_never_overwritten(home, site):
    url, _, _ = site
    make_dataset("tem_96x96", home, manifest=False, counts={"train": 4, "val": 2, "test": 3})
    before = sorted(p.name for p in (home / "tem_96x96").iterdir())
    with pytest.raises(DownloadError, match="move it away"):
        download("tem_96x96", mirrors=[url], progress=False)
    assert sorted(p.name for p in (home / "tem_96x96").iterdir()) == before
    assert not any(p[0].endswith(".tar") for p in FlakyHandler.seen)


def test_shared_metadata_folder_is_split_with_its_items(home, site, tmp_path):
    url, folder, _ = site
    src = tmp_path / "shared"
    make_dataset("wavefunctions_restricted", src, layout="shared_meta")
    build_mirror("wavefunctions_restricted", folder, root=src, progress=False)
    first = download("wavefunctions_restricted", split="test", mirrors=[url], progress=False)
    assert first.shards == 1  # meta/{i}-{cif}.json files travel with their split
    assert len(list((home / "wavefunctions_restricted" / "meta").iterdir())) == 3
    second = download("wavefunctions_restricted", split="train", mirrors=[url], progress=False)
    assert second.shards == 1
    for split in ("train", "test"):
        got = wemd.load("wavefunctions_restricted", split)
        want = wemd.load("wavefunctions_restricted", split, root=src)
        assert got.metadata(1)["cif"] == want.metadata(1)["cif"]
        assert got.fingerprint() == want.fingerprint()


def test_server_without_range_support_restarts_the_shard(home, site):
    import http.server

    _, folder, src = site
    plain = serve(folder, handler=http.server.SimpleHTTPRequestHandler)  # ignores Range
    thread = threading.Thread(target=plain.serve_forever, daemon=True)
    thread.start()
    try:
        cache = home / ".downloads" / "tem_96x96"
        cache.mkdir(parents=True)
        (cache / "tem_96x96-all-0000.tar.part").write_bytes(b"stale bytes" * 100)
        download("tem_96x96", mirrors=[f"http://127.0.0.1:{plain.server_address[1]}"],
                 retries=0, progress=False)
    finally:
        plain.shutdown()
        plain.server_close()
        thread.join(5)
    assert_same_items("tem_96x96", "test", home, src)


class WrongRangeHandler(RangeRequestHandler):
    """Answers every Range request with 206 but from byte 0 (a broken proxy or server)."""

    def send_head(self):
        if "Range" in self.headers:
            self.headers.replace_header("Range", "bytes=0-")
        return super().send_head()


def test_a_206_for_another_range_is_never_appended(home, site):
    _, folder, src = site
    server = serve(folder, handler=WrongRangeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cache = home / ".downloads" / "tem_96x96"
        cache.mkdir(parents=True)
        part = cache / "tem_96x96-all-0000.tar.part"
        part.write_bytes((folder / "tem_96x96" / "tem_96x96-all-0000.tar").read_bytes()[:5000])
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(DownloadError, match="starts from zero"):
            download("tem_96x96", mirrors=[url], retries=0, progress=False)
        assert not part.exists()  # the stale prefix is gone, not extended with wrong bytes
        download("tem_96x96", mirrors=[url], retries=0, progress=False)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert_same_items("tem_96x96", "test", home, src)


def test_urllib3_without_read1_still_streams():
    import io

    from wemd.fetch import _read1

    class Raw:  # urllib3 1.x: read(amt) only
        def __init__(self):
            self.fp = io.BytesIO(b"x" * 10)

        def read(self, amt):
            return self.fp.read(amt)

    class Response:
        raw = Raw()

    assert _read1(Response, 4) == b"xxxx" and _read1(Response, 100) == b"xxxxxx"


def test_complete_data_placed_by_hand_is_left_alone_without_network(home, site):
    url, _, _ = site
    folder = home / "tem_96x96"
    folder.mkdir()
    rows = sum(wemd.catalog.get("tem_96x96").splits.values()) - 1  # the published [17266, ...]
    array = np.lib.format.open_memmap(folder / "tem_96x96.npy", mode="w+", dtype=np.float32,
                                      shape=(rows, 96, 96, 1))  # sparse: no data written
    del array
    result = download("tem_96x96", mirrors=[url], progress=False)
    assert result.skipped and "placed by hand" in str(result)
    assert FlakyHandler.seen == []  # not even mirror.json was asked for
    assert sorted(p.name for p in folder.iterdir()) == ["tem_96x96.npy"]


class BusyOnceHandler(RangeRequestHandler):
    """Answers the first request for each file with 503 (an overloaded host), then serves it."""

    busy: set = set()

    def send_head(self):
        if self.path not in self.busy:
            type(self).busy.add(self.path)
            self.send_error(503, "busy, try again")
            return None
        return super().send_head()


def test_server_errors_are_retried_but_not_found_is_not(home, site):
    _, folder, src = site
    BusyOnceHandler.busy = set()
    server = serve(folder, handler=BusyOnceHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(DownloadError, match="(?s)No mirror served .*503"):
            download("tem_96x96", mirrors=[url], retries=0, progress=False)
        with pytest.raises(DownloadError, match="(?s)shard .* 503"):  # mirror.json now answers
            download("tem_96x96", mirrors=[url], retries=0, progress=False)
        BusyOnceHandler.busy = set()
        download("tem_96x96", mirrors=[url], retries=1, progress=False)
        (folder / "wavefunctions" / "wavefunctions-test-0000.tar").unlink()
        with pytest.raises(DownloadError) as err:
            download("wavefunctions", split="test", mirrors=[url], retries=3, progress=False)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert_same_items("tem_96x96", "test", home, src)
    text = str(err.value)  # 503 once (retried), then 404: no further attempts
    assert "503" in text and "404" in text and "attempt 3" not in text
