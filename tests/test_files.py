"""Atomic writes leave either the old file or the whole new one, with ordinary permissions."""

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
