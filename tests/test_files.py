"""Atomic writes leave either the old file or the whole new one; names from input never escape the root."""

import os

import numpy as np
import pytest

from wemd.files import atomic_path, save_npy, write_json


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text().strip().startswith("{") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_written_files_get_umask_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = save_npy(tmp_path / "x.npy", np.arange(3))
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert np.load(path).tolist() == [0, 1, 2]


def test_manifest_splits_come_back_in_partition_order(tmp_path):
    from wemd.manifest import Manifest, read_manifest, write_manifest
    write_manifest(tmp_path, Manifest("stem_96x96", "subset", {"test": 1, "val": 2, "train": 3}))
    assert list(read_manifest(tmp_path).splits) == ["train", "val", "test"]


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../x", "a/../../b", "a\\b", "C:evil", ".git/x",
                                 "a//b", "a/./b", "x\x00y", "tab\there", 5, None, "a/" * 20 + "b",
                                 "n" * 256])
def test_names_from_input_that_could_escape_are_refused(tmp_path, bad):
    from wemd.files import UnsafeNameError, safe_join, safe_relpath

    with pytest.raises(UnsafeNameError, match="never writes outside"):
        safe_relpath(bad, "registry file")
    with pytest.raises(UnsafeNameError):
        safe_join(tmp_path, bad, "registry file")


def test_safe_names_pass_and_links_out_of_the_root_are_caught(tmp_path):
    from wemd.files import UnsafeNameError, safe_filename, safe_join

    assert safe_join(tmp_path, "train/0.tif") == tmp_path / "train" / "0.tif"
    assert safe_join(tmp_path, "².npy").name == "².npy"
    assert safe_join(tmp_path, ".downloads/x.tar", allow_hidden=True).parent.name == ".downloads"
    assert safe_filename("1000041.cif") == "1000041.cif"
    with pytest.raises(UnsafeNameError, match="one name"):
        safe_filename("meta/1.json")
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(UnsafeNameError, match="through a link"):
        safe_join(root, "link/x.npy")
