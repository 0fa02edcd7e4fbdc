"""Hostile mirrors, manifests, shards and registries: nothing escapes, nothing unlisted is placed,
placed files are never written through, and every transfer is bounded.

Each test serves what a hostile or broken mirror would, from a real HTTP server on 127.0.0.1.
"""

import io
import json
import os
import tarfile
import threading
import time

import numpy as np
import pytest

from wemd import fetch
from wemd.baselines.pretrained import load_pretrained
from wemd.download import CorruptShardError, DownloadError, download
from wemd.errors import CorruptFileError
from wemd.fetch import BoundExceeded, Bounds, FetchFailed, fetch_verified
from wemd.files import sha256_file
from wemd.mirror import build_mirror
from wemd.range_server import RangeRequestHandler, serve
from tests.fakedata import make_dataset


@pytest.fixture
def http():
    """Start servers on 127.0.0.1: ``http(folder, handler)`` -> base URL; all stopped afterwards."""
    servers = []

    def start(folder, handler=RangeRequestHandler):
        server = serve(folder, handler=handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def waves_site(tmp_path):
    """A mirror of fake wavefunctions (split folders, one shard per split)."""
    src = tmp_path / "src"
    make_dataset("wavefunctions", src)
    build_mirror("wavefunctions", tmp_path / "site", root=src, progress=False)
    return tmp_path / "site", src


def mirror_json(site, name):
    return json.loads((site / name / "mirror.json").read_text())


def save_mirror_json(site, name, obj):
    (site / name / "mirror.json").write_text(json.dumps(obj))


def retar(path, members):
    """Rewrite a shard as ``members`` (name -> bytes); return {name: {sha256, size}}."""
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return sha256_file(path), path.stat().st_size


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def shard_members(path):
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def relist(shard_entry, path, members):
    """Point a mirror.json shard entry at the rewritten shard (listing every member honestly)."""
    import hashlib

    shard_entry["sha256"], shard_entry["size"] = retar(path, members)
    shard_entry["files"] = {k: {"sha256": hashlib.sha256(v).hexdigest(), "size": len(v)}
                            for k, v in members.items()}


# -- registries (item 1) ----------------------------------------------------------------------

@pytest.mark.parametrize("file", ["/tmp/wemd-hostile-abs.pt", "../../escaped.pt", "sub/dir.pt"])
def test_registry_file_names_cannot_point_outside_the_cache(home, tmp_path, http, file):
    victim = tmp_path / "escaped.pt"
    victim.write_bytes(b"keep me")
    (tmp_path / "reg").mkdir()
    (tmp_path / "reg" / "registry.json").write_text(json.dumps({"m": {
        "name": "m", "file": file, "sha256": "0" * 64, "size": 3, "task": "t",
        "model": "atrous-denoiser", "provenance": "real", "card": "m.md"}}))
    url = http(tmp_path)
    with pytest.raises(CorruptFileError, match="not a safe file name"):
        load_pretrained("m", registry=tmp_path / "reg", mirrors=[url], cache=tmp_path / "cache" / "c")
    assert victim.read_bytes() == b"keep me"
    assert not os.path.exists("/tmp/wemd-hostile-abs.pt")


def test_registry_with_bad_types_is_a_clear_error(tmp_path):
    (tmp_path / "registry.json").write_text(json.dumps({"m": {
        "name": "m", "file": "m.pt", "sha256": 5, "size": -1, "task": "t",
        "model": "x", "provenance": "real", "card": "m.md"}}))
    with pytest.raises(CorruptFileError, match="sha256"):
        load_pretrained("m", registry=tmp_path, mirrors=[], cache=tmp_path / "c")
    (tmp_path / "registry.json").write_text("[1, 2]")
    with pytest.raises(CorruptFileError, match="JSON object"):
        load_pretrained("m", registry=tmp_path, mirrors=[], cache=tmp_path / "c")


# -- shards: listed bytes only, never written through (items 3, 4) ----------------------------

def test_placed_files_are_never_written_through_by_a_later_shard(home, waves_site, http):
    site, src = waves_site
    url = http(site)
    download("wavefunctions", split="train", mirrors=[url], progress=False)
    placed = home / "wavefunctions" / "train" / "0.npy"
    before = placed.read_bytes()
    obj = mirror_json(site, "wavefunctions")
    val = next(s for s in obj["shards"] if s["group"] == "val")
    members = shard_members(site / "wavefunctions" / val["path"])
    members["train/0.npy"] = npy_bytes(np.full((320, 320), 99, np.complex64))
    relist(val, site / "wavefunctions" / val["path"], members)
    save_mirror_json(site, "wavefunctions", obj)
    with pytest.raises(DownloadError, match="listed twice"):  # in the train and the val shard
        download("wavefunctions", split="val", mirrors=[url], progress=False)
    train = next(s for s in obj["shards"] if s["group"] == "train")
    del train["files"]["train/0.npy"]  # now only the val shard claims it, with other bytes
    save_mirror_json(site, "wavefunctions", obj)
    with pytest.raises(DownloadError, match="never writes over placed files"):
        download("wavefunctions", split="val", mirrors=[url], progress=False)
    assert placed.read_bytes() == before
    assert not (home / "wavefunctions" / "val").exists()


def tamper_test_shard(site, **changed: bytes) -> dict:
    """Rewrite the test shard with ``changed`` members (path -> bytes), listing the new shard's
    sha256 and size but the members' old entries, as a careless or hostile mirror would."""
    obj = mirror_json(site, "wavefunctions")
    test = next(s for s in obj["shards"] if s["group"] == "test")
    path = site / "wavefunctions" / test["path"]
    members = shard_members(path)
    members.update(changed)
    test["sha256"], test["size"] = retar(path, members)  # the shard hash is "right"
    save_mirror_json(site, "wavefunctions", obj)
    return test["files"]


def test_unlisted_members_are_refused_and_nothing_is_placed(home, waves_site, http):
    site, _ = waves_site
    tamper_test_shard(site, **{"test/planted.npy": b"\0" * 20_000})  # not in the listing
    with pytest.raises(CorruptShardError, match="planted.npy.*not in the shard's listing"):
        download("wavefunctions", split="test", mirrors=[http(site)], progress=False)
    assert not (home / "wavefunctions").exists()
    assert not any(home.rglob("planted.npy"))


def test_members_are_checked_against_their_own_listed_sha256(home, waves_site, http):
    site, src = waves_site
    swapped = npy_bytes(np.full((320, 320), 7, np.complex64))  # other pixels, same size
    listing = tamper_test_shard(site, **{"test/0.npy": swapped})  # under the old sha256
    assert len(swapped) == listing["test/0.npy"]["size"]
    with pytest.raises(CorruptShardError, match="test/0.npy.*does not match its listed sha256"):
        download("wavefunctions", split="test", mirrors=[http(site)], progress=False)
    assert not (home / "wavefunctions").exists()


def test_extracted_files_get_a_real_mtime(home, waves_site, http):
    site, _ = waves_site
    download("wavefunctions", split="test", mirrors=[http(site)], progress=False)
    placed = home / "wavefunctions" / "test" / "0.npy"
    assert abs(placed.stat().st_mtime - time.time()) < 3600  # not the tar's mtime 0


# -- mirror.json (item 13) --------------------------------------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("path", 5, "unsafe name"),
    ("path", "../x.tar", "unsafe name"),
    ("size", -1, "non-negative integer"),
    ("sha256", 5, "64 lowercase hex"),
    ("files", {"../../outside/x.npy": {"sha256": "0" * 64, "size": 1}}, "unsafe name"),
    ("files", {"/abs/x.npy": {"sha256": "0" * 64, "size": 1}}, "unsafe name"),
    ("group", "nonsense", "group"),
])
def test_malformed_mirror_json_is_refused_and_the_next_mirror_is_used(home, tmp_path, waves_site,
                                                                      http, field, value, message):
    site, src = waves_site
    bad = tmp_path / "bad"
    (bad / "wavefunctions").mkdir(parents=True)
    obj = mirror_json(site, "wavefunctions")
    obj["shards"][0][field] = value
    save_mirror_json(bad, "wavefunctions", obj)
    bad_url, good_url = http(bad), http(site)
    with pytest.raises(DownloadError, match=message):
        download("wavefunctions", mirrors=[bad_url], progress=False)
    assert not (tmp_path / "outside").exists() and not (home / "outside").exists()
    assert download("wavefunctions", mirrors=[bad_url, good_url], progress=False).mirror == good_url


def test_splits_as_a_list_is_refused(tmp_path, waves_site, http):
    site, _ = waves_site
    obj = mirror_json(site, "wavefunctions")
    obj["splits"] = [1, 2, 3]
    save_mirror_json(site, "wavefunctions", obj)
    with pytest.raises(DownloadError, match="'splits' must map"):
        download("wavefunctions", mirrors=[http(site)], root=tmp_path / "h", progress=False)


# -- bounds (item 5) --------------------------------------------------------------------------

def send_forever(handler, head: bytes, filler: bytes) -> None:
    """Answer 200 with no Content-Length: ``head``, then ``filler`` until the client hangs up."""
    handler.send_response(200)
    handler.end_headers()
    try:
        handler.wfile.write(head)
        while True:
            handler.wfile.write(filler)
    except OSError:
        pass


class EndlessHandler(RangeRequestHandler):
    """Sends the shard, then zeros forever."""

    def do_GET(self):
        path = self.translate_path(self.path)
        if not path.endswith(".tar"):
            return super().do_GET()
        with open(path, "rb") as fh:
            send_forever(self, fh.read(), b"\0" * 65536)


class EndlessJSONHandler(RangeRequestHandler):
    """Sends a mirror.json that never ends."""

    def do_GET(self):
        if not self.path.endswith("mirror.json"):
            return super().do_GET()
        send_forever(self, b'{"format": "wemd-mirror/1", "x": "', b"a" * 65536)


class TrickleHandler(RangeRequestHandler):
    """One byte every 50 ms."""

    def do_GET(self):
        path = self.translate_path(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(os.path.getsize(path)))
        self.end_headers()
        try:
            with open(path, "rb") as fh:
                while byte := fh.read(1):
                    self.wfile.write(byte)
                    self.wfile.flush()
                    time.sleep(0.05)
        except OSError:
            pass


def test_an_endless_shard_stops_at_its_listed_size(home, waves_site, http):
    site, src = waves_site
    url = http(site, EndlessHandler)
    download("wavefunctions", split="test", mirrors=[url], progress=False)
    got = np.load(home / "wavefunctions" / "test" / "0.npy")
    assert np.array_equal(got, np.load(src / "wavefunctions" / "test" / "0.npy"))


def test_an_endless_mirror_json_hits_the_size_cap_and_the_next_mirror_is_used(home, waves_site,
                                                                            http, monkeypatch):
    site, _ = waves_site
    monkeypatch.setattr(fetch, "MAX_DOCUMENT_BYTES", 1 << 20)
    endless, good = http(site, EndlessJSONHandler), http(site)
    with pytest.raises(DownloadError, match="byte limit for a document"):
        download("wavefunctions", mirrors=[endless], progress=False)
    assert download("wavefunctions", mirrors=[endless, good], progress=False).mirror == good


def test_a_trickling_server_is_stopped_by_the_minimum_rate_and_the_deadline(tmp_path, http):
    data = os.urandom(4000)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "f.bin").write_bytes(data)
    import hashlib

    url = http(tmp_path / "site", TrickleHandler) + "/f.bin"
    digest = hashlib.sha256(data).hexdigest()
    with pytest.raises(FetchFailed, match="below the minimum rate"):
        fetch_verified([url], "f.bin", digest, tmp_path / "out", size=len(data), retries=0,
                       bounds=Bounds(min_rate=1000, window=0.3))
    with pytest.raises(FetchFailed, match="deadline of 0.4 s"):
        fetch_verified([url], "f.bin", digest, tmp_path / "out2", size=len(data), retries=0,
                       bounds=Bounds(deadline=0.4))
    assert (tmp_path / "out2" / "f.bin.part").stat().st_size < len(data)  # kept to resume


def test_a_server_announcing_more_than_the_listing_is_refused(tmp_path, http):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "f.bin").write_bytes(b"x" * 1000)
    url = http(tmp_path / "site") + "/f.bin"
    with pytest.raises(FetchFailed, match="announces 1000 bytes, but the listing says 10"):
        fetch_verified([url], "f.bin", "0" * 64, tmp_path / "out", size=10, retries=0)
    assert not (tmp_path / "out" / "f.bin").exists()
    assert isinstance(BoundExceeded("x"), Exception)


def test_a_local_folder_is_a_mirror_and_a_bad_mirror_is_named(home, waves_site):
    site, src = waves_site
    result = download("wavefunctions", split="test", mirrors=[str(site)], progress=False)
    assert result.mirror == site.resolve().as_uri()
    assert np.array_equal(np.load(home / "wavefunctions" / "test" / "0.npy"),
                          np.load(src / "wavefunctions" / "test" / "0.npy"))
    with pytest.raises(fetch.BadMirror, match="not an http"):
        download("wavefunctions", mirrors=["no/such/folder"], progress=False)


def test_percent_escapes_in_listed_names_cannot_reach_outside_a_folder_mirror(home, tmp_path,
                                                                             waves_site):
    site, _ = waves_site
    obj = mirror_json(site, "wavefunctions")
    test = next(s for s in obj["shards"] if s["group"] == "test")
    shard = site / "wavefunctions" / test["path"]
    outside = site / "secret.tar"  # beside the dataset's folder, not in it
    outside.write_bytes(shard.read_bytes())
    test["path"] = "%2e%2e%2fsecret.tar"  # a safe name, until a file:// URL decodes it
    save_mirror_json(site, "wavefunctions", obj)
    with pytest.raises(DownloadError, match="404|No such file"):
        download("wavefunctions", split="test", mirrors=[str(site)], retries=0, progress=False)
    assert not (home / "wavefunctions").exists()


def test_odd_types_repeated_shards_and_deep_json_in_mirror_json_are_manifest_errors(waves_site):
    from wemd.errors import ManifestError
    from wemd.mirror import parse_mirror_manifest

    site, _ = waves_site
    good = mirror_json(site, "wavefunctions")
    listed_group = json.loads(json.dumps(good))
    listed_group["shards"][0]["group"] = ["train"]
    twice = json.loads(json.dumps(good))
    twice["shards"].append(dict(twice["shards"][0], files={"other.npy": {"sha256": "0" * 64, "size": 1}}))
    for obj, message in ((listed_group, "group"), (twice, "listed twice")):
        with pytest.raises(ManifestError, match=message):
            parse_mirror_manifest(json.dumps(obj).encode(), "m.json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_mirror_manifest(b"[" * 200_000, "m.json")


def test_a_non_ascii_content_length_is_a_clear_error(tmp_path, http):
    class OddLength(RangeRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "\u00b2")
            self.end_headers()

    (tmp_path / "site").mkdir()
    url = http(tmp_path / "site", OddLength) + "/f.bin"
    with pytest.raises(FetchFailed):
        fetch_verified([url], "f.bin", "0" * 64, tmp_path / "out", size=10, retries=0)
