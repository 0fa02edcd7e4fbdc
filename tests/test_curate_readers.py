"""wemd.curate.readers on files in the real formats, and on hostile ones."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from tests.curate_files import (write_berkeley, write_dm, write_mrc, write_ser, write_tiff,
                                 write_velox)
from wemd.curate.files import scan
from wemd.curate.readers import Rejected, read_frames

pytest.importorskip("rsciio")


def _image(h: int = 40, w: int = 56, dtype=np.uint16) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % 977).astype(dtype)


@pytest.mark.parametrize("version", [3, 4])
def test_dm_pixels_and_metadata(tmp_path, version):
    img = _image()
    path = write_dm(tmp_path / f"a.dm{version}", img, version=version, scale=0.25, units="nm",
                    voltage_v=200e3, magnification=8e5, operator="Alice", specimen="SrTiO3",
                    date="3/4/2017", time="10:11:12 AM")
    (frame,), skipped = read_frames(path)
    assert skipped == []
    np.testing.assert_array_equal(frame.data, img)
    m = frame.meta
    assert (m["pixel_size"], m["pixel_unit"], m["voltage_kv"], m["magnification"]) == (0.25, "nm", 200.0, 8e5)
    assert (m["operator"], m["specimen"], m["date"]) == ("Alice", "SrTiO3", "2017-03-04 10:11:12")


def test_velox_emd_metadata_and_stack(tmp_path):
    img = _image(dtype=np.float32)
    (frame,), _ = read_frames(write_velox(tmp_path / "v.emd", img))
    np.testing.assert_array_equal(frame.data, img)
    m = frame.meta
    assert m["voltage_kv"] == 300.0 and m["detector"] == "HAADF" and m["magnification"] == 2e6
    assert m["pixel_unit"] == "nm" and m["pixel_size"] == pytest.approx(0.2)
    assert m["date"].startswith("2020-09-13")
    frames, _ = read_frames(write_velox(tmp_path / "s.emd", img, frames=3))
    assert [f.meta["stack_frame"] for f in frames] == [0, 1, 2] and [f.frame for f in frames] == [0, 1, 2]
    with pytest.raises(Rejected, match="stack of 3 frames"):
        read_frames(tmp_path / "s.emd", stacks="refuse")


def test_berkeley_emd_mrc_tiff(tmp_path):
    img = _image(dtype=np.float32)
    (b,), _ = read_frames(write_berkeley(tmp_path / "b.emd", img))
    assert sorted(b.data.shape) == sorted(img.shape) and b.meta["pixel_unit"] == "nm"
    assert b.meta["pixel_size"] == 0.5
    (m,), _ = read_frames(write_mrc(tmp_path / "m.mrc", img))
    np.testing.assert_array_equal(m.data, img)
    assert m.meta["pixel_size"] == pytest.approx(0.15)  # 1.5 angstrom
    (t,), _ = read_frames(write_tiff(tmp_path / "t.tif", img))
    np.testing.assert_array_equal(t.data, img)
    (s,), _ = read_frames(write_ser(tmp_path / "s_1.ser", img, pixel_m=2e-10))
    np.testing.assert_array_equal(s.data, img)
    assert (s.meta["pixel_size"], s.meta["pixel_unit"]) == (pytest.approx(0.2), "nm")


def test_non_images_are_skipped_with_a_reason(tmp_path):
    spectrum = write_dm(tmp_path / "eels.dm3", np.arange(200, dtype=np.float32), signal="EELS",
                        units="eV")
    with pytest.raises(Rejected, match="EELS signal, not an image"):
        read_frames(spectrum)
    four_d = write_berkeley(tmp_path / "4d.emd", np.zeros((3, 4, 16, 16), np.float32))
    with pytest.raises(Rejected, match="4D-STEM"):
        read_frames(four_d)
    frames, _ = read_frames(write_dm(tmp_path / "stack.dm4", np.stack([_image()] * 2), version=4))
    assert len(frames) == 2


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_bytes(b"\x00" * 64), "unreadable"),
    (lambda p: p.write_bytes(write_dm(p, _image()).read_bytes()[:300]), "unreadable"),
])
def test_hostile_dm_files_are_rejected(tmp_path, make, reason):
    path = tmp_path / "bad.dm3"
    make(path)
    with pytest.raises(Rejected, match=reason):
        read_frames(path)


def test_truncated_pixels_and_huge_declared_dims_are_rejected(tmp_path):
    good = write_dm(tmp_path / "g.dm3", _image(64, 64)).read_bytes()
    (tmp_path / "t.dm3").write_bytes(good[: len(good) - 5000])  # header intact, pixels cut
    with pytest.raises(Rejected):
        read_frames(tmp_path / "t.dm3")
    # the same header, with the image's dimensions rewritten to 60000 x 60000
    huge = bytearray(good)
    pos = [i for i in range(len(huge) - 4) if huge[i:i + 4] == struct.pack("<i", 64)]
    for i in pos[-2:]:  # the last two int32 64s: the Dimensions tags (after the pixel data)
        huge[i:i + 4] = struct.pack("<i", 60000)
    (tmp_path / "h.dm3").write_bytes(bytes(huge))
    with pytest.raises(Rejected, match="over the 1048576-byte limit"):
        read_frames(tmp_path / "h.dm3", max_data_bytes=1 << 20)


@pytest.mark.parametrize("how", ["external storage", "external link", "virtual dataset"])
def test_an_emd_file_cannot_pull_in_other_files(tmp_path, how):
    import h5py

    secret = np.arange(40 * 56, dtype=np.float32).reshape(40, 56, 1)
    (tmp_path / "secret.bin").write_bytes(secret.tobytes())
    with h5py.File(tmp_path / "other.h5", "w") as other:
        other.create_dataset("x", data=secret, chunks=True)
    path = write_velox(tmp_path / "a.emd", _image().astype(np.float32))
    with h5py.File(path, "a") as f:
        name = "Data/Image/6fdbde41eecc4375b45cd86bd2be17c0/Data"
        del f[name]
        if how == "external storage":
            f.create_dataset(name, shape=secret.shape, dtype="float32",
                             external=[(str(tmp_path / "secret.bin"), 0, secret.nbytes)])
        elif how == "external link":
            f[name] = h5py.ExternalLink(str(tmp_path / "other.h5"), "x")
        else:
            layout = h5py.VirtualLayout(shape=secret.shape, dtype="float32")
            layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "x", shape=secret.shape)
            f.create_virtual_dataset(name, layout)
    with pytest.raises(Rejected, match="keeps its data in another file"):
        read_frames(path)  # was (external link): the other file's pixels, curated as this file's


def test_unsupported_and_companion_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "a.emi").write_bytes(b"x")
    with pytest.raises(Rejected, match="unsupported format '.txt'"):
        read_frames(tmp_path / "notes.txt")
    with pytest.raises(Rejected, match="companion"):
        read_frames(tmp_path / "a.emi")


def test_scan_refuses_links_and_odd_names(tmp_path):
    (tmp_path / "ok").mkdir()
    write_tiff(tmp_path / "ok" / "a.tif", _image())
    (tmp_path / "ok" / "bad\nname.tif").write_bytes(b"x")
    (tmp_path / "link.tif").symlink_to("/etc/passwd")
    (tmp_path / ".hidden.tif").write_bytes(b"x")
    files, refused = scan(tmp_path)
    assert files == ["ok/a.tif"]
    reasons = {r["path"]: r["reason"] for r in refused}
    assert "symbolic link" in reasons["link.tif"]
    assert any("control characters" in why for why in reasons.values())


def test_scan_names_a_folder_it_cannot_list(tmp_path):
    """A folder whose listing fails (here: a path over PATH_MAX; for a user, no permission)."""
    write_tiff(tmp_path / "a.tif", _image())
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(20):  # 20 x 250 characters: past the 4096 a path may have
            os.mkdir("d" * 250, dir_fd=fd)
            fd, old = os.open("d" * 250, os.O_RDONLY, dir_fd=fd), fd
            os.close(old)
    finally:
        os.close(fd)
    files, refused = scan(tmp_path)
    assert files == ["a.tif"]
    assert any("folder that cannot be listed" in r["reason"] and r["path"].startswith("d" * 250)
               for r in refused), refused  # was: left out without a word
