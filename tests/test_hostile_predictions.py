"""Hostile and careless prediction files (issue 12): read member by member, headers first.

Every file is a real .npy or .npz written with numpy and zipfile; only its contents are hostile.
"""

import io
import tracemalloc
import zipfile

import numpy as np
import pytest

from tests.test_leaderboard_data import make_structured
from wemd.leaderboard import EvaluationInputError, evaluate, get_task

N = 4
SIDE = 32


@pytest.fixture(scope="module")
def tem(tmp_path_factory):
    root = tmp_path_factory.mktemp("home")
    make_structured("tem_full", root, {"test": 3})
    task = get_task("tem_denoise_low_dose", crop=SIDE)
    ds = task.open(root=root)
    return task, ds, np.stack([inst.target for inst in task.instances(ds, N)])


def npy(shape, dtype, data=None, tail=b""):
    """The bytes of a .npy file whose header says ``shape``/``dtype``, followed by ``data``
    (zeros of the declared size by default) and ``tail``."""
    dtype = np.dtype(dtype)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(dtype),
                                               "fortran_order": False, "shape": tuple(shape)})
    if data is None:
        data = bytes(int(np.prod(shape)) * dtype.itemsize)
    return buf.getvalue() + data + tail


def npz(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression, compresslevel=1) as zf:
        for name, data in members.items():
            zf.writestr(f"{name}.npy", data)
    return path


def ids_bytes(task, ds):
    buf = io.BytesIO()
    np.save(buf, np.array(task.instance_ids(ds, N)))
    return buf.getvalue()


def score(tem, predictions):
    task, ds, _ = tem
    return evaluate(task, predictions, ds=ds, n=N, progress=False)


def test_extra_npz_members_are_never_decompressed(tem, tmp_path):
    task, ds, targets = tem
    path = tmp_path / "extra.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("predictions.npy", npy(targets.shape, targets.dtype, targets.tobytes()))
        zf.writestr("instance_ids.npy", ids_bytes(task, ds))
        with zf.open("junk.npy", "w") as fh:  # 64 MiB of zeros, about 64 KiB compressed
            fh.write(npy((64, 1 << 20), np.uint8, b""))
            for _ in range(64):
                fh.write(bytes(1 << 20))
    tracemalloc.start()
    try:
        res = score(tem, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.metrics["ssim"]["mean"] > 0.999
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MiB allocated: the junk member was read"


HEAD_ONLY = b"\0" * 64  # far less data than any of these headers declares


@pytest.mark.parametrize("make, message", [
    (lambda t: npy((100_000, SIDE, SIDE), np.float32, HEAD_ONLY), "Got 100000 predictions but the task has 4"),
    (lambda t: npy((N, SIDE, SIDE), np.int16, HEAD_ONLY), "dtype int16"),
    (lambda t: npy((N, 16, SIDE), np.float32, HEAD_ONLY), "shape \\(16, 32\\), expected \\(32, 32\\)"),
    (lambda t: npy((N, SIDE, SIDE), object, HEAD_ONLY), "dtype object"),
    (lambda t: npy((), np.float32), "shape \\(\\)"),
    (lambda t: npy(t.shape, t.dtype, t.tobytes(), tail=bytes(8 << 20)), "declares"),
])
@pytest.mark.parametrize("kind", ["npz", "npz-stored", "npy"])
def test_prediction_headers_are_checked_before_any_data_is_read(tem, tmp_path, make, message, kind):
    data = make(tem[2])
    if kind == "npy":
        path = tmp_path / "p.npy"
        path.write_bytes(data)
    else:
        stored = zipfile.ZIP_STORED if kind == "npz-stored" else zipfile.ZIP_DEFLATED
        path = npz(tmp_path / "p.npz", {"predictions": data}, stored)
    with pytest.raises(EvaluationInputError, match=message) as err:
        score(tem, path)
    assert "Expected: Predictions for tem_denoise_low_dose" in str(err.value)


@pytest.mark.parametrize("ids, message", [
    (lambda t, ds: npy((N,), "<U1048576"), "instance_ids"),  # 16 MiB of ids, 16 KiB compressed
    (lambda t, ds: npy((N,), "<U8", tail=bytes(4 << 20)), "declares"),
])
def test_instance_ids_headers_are_checked_before_reading(tem, tmp_path, ids, message):
    task, ds, targets = tem
    path = npz(tmp_path / "p.npz", {"predictions": npy(targets.shape, targets.dtype, targets.tobytes()),
                                    "instance_ids": ids(task, ds)})
    tracemalloc.start()
    try:
        with pytest.raises(EvaluationInputError, match=message):
            score(tem, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB allocated before refusing"


def test_a_scalar_in_memory_is_refused_clearly(tem):
    with pytest.raises(EvaluationInputError, match="shape \\(\\)"):
        score(tem, np.float32(0.5))
    with pytest.raises(EvaluationInputError, match="shape \\(\\)"):
        score(tem, {"predictions": np.float32(0.5)})


def test_good_files_score_as_before(tem, tmp_path):
    task, ds, targets = tem
    ids = np.array(task.instance_ids(ds, N))
    expected = score(tem, targets)
    np.savez(tmp_path / "inputs_and_predictions.npz", noisy=targets, predictions=targets, instance_ids=ids)
    np.savez_compressed(tmp_path / "packed.npz", predictions=np.asfortranarray(targets.astype(np.float64)))
    np.save(tmp_path / "p.npy", np.asfortranarray(targets))
    for name in ("inputs_and_predictions.npz", "packed.npz", "p.npy"):
        res = score(tem, tmp_path / name)
        assert res.predictions_sha256 == expected.predictions_sha256
        assert res.metrics == expected.metrics
