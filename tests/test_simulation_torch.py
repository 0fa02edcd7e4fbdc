"""The torch engine: the NumPy engine's physics to 1e-4 (float32, CPU), and its device checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wemd.simulation.backends import BackendError, make_backend  # noqa: E402
from wemd.simulation.cif import read_cif  # noqa: E402
from wemd.simulation.examples import write_example_cifs  # noqa: E402
from wemd.simulation.geometry import build_specimen  # noqa: E402
from wemd.simulation.multislice import Grid, NormRecord, multislice  # noqa: E402
from wemd.simulation.protocol import QUICK_OVERRIDES  # noqa: E402
from wemd.simulation.runner import simulate_dataset  # noqa: E402
from wemd.simulation.torch_engine import multislice_torch  # noqa: E402


@pytest.mark.parametrize("name, zone, voltage", [
    ("Si", (0, 0, 1), 300e3), ("SrTiO3", (0, 1, 1), 200e3), ("Au", (1, 1, 1), 80e3),
    ("Cu3Au", (0, 1, 1), 200e3),  # a mixed-occupancy site
])
def test_torch_agrees_with_numpy_to_1e_4(tmp_path, name, zone, voltage):
    (path,) = write_example_cifs(tmp_path, [name])
    atoms = build_specimen(read_cif(path), zone, (0.02, -0.01, 0.03), 20.0, 60.0,
                           np.random.default_rng(1))
    grid = Grid((192, 192), atoms.box[:2])
    ref, got = NormRecord(), NormRecord()
    expected = multislice(atoms, grid, voltage, record=ref)
    wave = multislice_torch(atoms, grid, voltage, record=got)
    assert wave.dtype == np.complex64 and wave.shape == expected.shape
    assert np.linalg.norm(wave - expected) / np.linalg.norm(expected) < 1e-4
    for field in ("intensity", "transmission_change", "band_limit_loss", "max_transmission"):
        assert getattr(got, field) == pytest.approx(getattr(ref, field), abs=1e-4)


def test_torch_backend_runs_the_pipeline_and_names_its_software(tmp_path):
    cifs = write_example_cifs(tmp_path / "cifs", ["Si", "MgO"])
    kwargs = dict(protocol_overrides=QUICK_OVERRIDES, draws_per_cif=1, workers=1, progress=False)
    simulate_dataset(cifs, "wavefunctions_restricted", tmp_path / "np", **kwargs)
    simulate_dataset(cifs, "wavefunctions_restricted", tmp_path / "pt", backend="torch",
                     backend_options={"device": "cpu"}, **kwargs)
    for split in ("train", "val"):
        a = np.load(tmp_path / "np" / split / "0.npy")
        b = np.load(tmp_path / "pt" / split / "0.npy")
        assert np.linalg.norm(a - b) / np.linalg.norm(a) < 1e-4
    meta = json.loads(next((tmp_path / "pt" / "train" / "meta").glob("*.json")).read_text())
    assert meta["software"]["torch"] == torch.__version__
    assert meta["software"]["backend"] == "torch" and "cpu" in meta["software"]["backend_version"]
    assert meta["convergence"]["intensity"] == pytest.approx(1.0, abs=0.01)


def test_a_device_that_is_not_there_is_a_clear_error():
    with pytest.raises(BackendError, match="not a torch device"):
        make_backend("torch", device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="sees no CUDA GPU.*--device cpu"):
            make_backend("torch", device="cuda")
