"""Mirror building: shards, their manifest, safe extraction and the Range-capable server."""

import io
import json
import os
import tarfile
import threading

import pytest
import requests

from wemd.cli import main
from wemd.errors import ManifestError, WEMDError
from wemd.export.hf import export_hf
from wemd.files import sha256_file
from wemd.mirror import build_mirror, extract_shard, parse_mirror_manifest
from wemd.range_server import serve
from tests.fakedata import make_dataset


def load_mirror(path):
    return parse_mirror_manifest(path.read_bytes(), str(path))


def test_split_folders_give_one_group_per_split_with_hashes(home, tmp_path):
    src = make_dataset("wavefunctions", home)
    mirror = load_mirror(build_mirror("wavefunctions", tmp_path / "m", progress=False))
    assert [s.group for s in mirror.shards] == ["train", "val", "test"]
    assert mirror.provenance == "subset" and mirror.splits == {"train": 4, "val": 2, "test": 3}
    for shard in mirror.shards:
        path = tmp_path / "m" / "wavefunctions" / shard.path
        assert sha256_file(path) == shard.sha256 and path.stat().st_size == shard.size
        with tarfile.open(path) as tar:
            assert sorted(tar.getnames()) == sorted(shard.files)
        for rel, entry in shard.files.items():
            assert rel.startswith(shard.group + "/")
            assert entry["sha256"] == sha256_file(src / rel)
    assert [s.group for s in mirror.shards_for(["test"])] == ["test"]


def test_positional_layouts_and_common_files(home, tmp_path):
    make_dataset("stem_full", home, layout="flat")
    flat = load_mirror(build_mirror("stem_full", tmp_path / "m", progress=False))
    assert {s.group for s in flat.shards} == {"all"} and not flat.split_download
    assert len(flat.shards_for(["test"])) == len(flat.shards)
    make_dataset("cifs", home)
    cifs = load_mirror(build_mirror("cifs", tmp_path / "m", progress=False))
    assert [s.group for s in cifs.shards] == ["common", "train", "val", "test"]
    assert list(cifs.shards[0].files) == ["urls.txt"]
    assert [s.group for s in cifs.shards_for(["val"])] == ["common", "val"]


def test_shards_are_deterministic_and_respect_the_size_limit(home, tmp_path):
    make_dataset("wavefunctions", home)
    a = load_mirror(build_mirror("wavefunctions", tmp_path / "a", shard_bytes=2_000_000, progress=False))
    b = load_mirror(build_mirror("wavefunctions", tmp_path / "b", shard_bytes=2_000_000, progress=False))
    assert [s.sha256 for s in a.shards] == [s.sha256 for s in b.shards]
    train = [s for s in a.shards if s.group == "train"]
    assert len(train) > 1 and all(s.size < 2_000_000 + 900_000 for s in train)


def test_cli_mirror_build(home, tmp_path, capsys):
    make_dataset("tem_96x96", home)
    assert main(["mirror", "build", "tem_96x96", str(tmp_path / "m"), "--no-progress"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.endswith("tem_96x96/mirror.json")
    assert json.loads((tmp_path / "m" / "tem_96x96" / "mirror.json").read_text())["format"] == "wemd-mirror/1"


def test_missing_dataset_is_a_clear_error(home, tmp_path, capsys):
    assert main(["mirror", "build", "tem_96x96", str(tmp_path / "m")]) == 1
    assert "No data for 'tem_96x96'" in capsys.readouterr().err


def test_extraction_refuses_paths_outside_the_folder(tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    (tmp_path / "dest").mkdir()
    with pytest.raises(WEMDError, match="escape.txt"):
        extract_shard(archive, tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()


def test_malformed_manifests_are_rejected():
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_mirror_manifest(b"<html>", "http://x/m.json")
    with pytest.raises(ManifestError, match="wemd-mirror/1"):
        parse_mirror_manifest(b'{"format": "other"}', "m.json")
    bad = {"format": "wemd-mirror/1", "dataset": "tem_96x96",
           "shards": [{"path": "../x.tar", "group": "all", "sha256": "0" * 64, "size": 1, "files": {}}]}
    with pytest.raises(ManifestError, match="unsafe"):
        parse_mirror_manifest(json.dumps(bad).encode(), "m.json")


def test_server_honours_byte_ranges(tmp_path):
    (tmp_path / "f.bin").write_bytes(bytes(range(256)) * 10)
    server = serve(tmp_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/f.bin"
    try:
        whole = requests.get(url, timeout=5)
        part = requests.get(url, headers={"Range": "bytes=100-"}, timeout=5)
        window = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=5)
        past = requests.get(url, headers={"Range": "bytes=5000-"}, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert whole.status_code == 200 and len(whole.content) == 2560
    assert part.status_code == 206 and part.content == whole.content[100:]
    assert part.headers["Content-Range"] == "bytes 100-2559/2560"
    assert window.content == whole.content[10:20]
    assert past.status_code == 416 and past.headers["Content-Range"] == "bytes */2560"


def test_mirror_and_export_files_are_readable_by_a_web_server(home, tmp_path):
    make_dataset("tem_96x96", home)
    manifest = build_mirror("tem_96x96", tmp_path / "m", progress=False)
    umask = os.umask(0)
    os.umask(umask)
    pytest.importorskip("datasets")
    export_hf("tem_96x96", tmp_path / "e", progress=False)
    for path in [*manifest.parent.iterdir(), *(tmp_path / "e").rglob("*.*")]:
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path  # not mkstemp's 0600


def test_mirror_serve_on_a_taken_port_is_a_clear_error(tmp_path, capsys):
    import socket

    from wemd.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["mirror", "serve", str(tmp_path), "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
