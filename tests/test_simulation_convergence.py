"""Intensity accounting, finer sampling runs, the memory check and ``wemd simulate-check``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from wemd.simulation.check import CheckError, check_run, rerun
from wemd.simulation.cif import read_cif
from wemd.simulation.examples import write_example_cifs
from wemd.simulation.geometry import build_specimen
from wemd.simulation.multislice import Atoms, Grid, NormRecord, multislice
from wemd.simulation.protocol import QUICK_OVERRIDES
from wemd.simulation.runner import SimulationRunError, simulate_dataset

VARIANT = "wavefunctions_restricted"


def _specimen(tmp_path, name, width, depth, zone=(0, 0, 1)):
    (path,) = write_example_cifs(tmp_path, [name])
    return build_specimen(read_cif(path), zone, (0.01, -0.02, 0.01), width, depth,
                          np.random.default_rng(0))


def _run(cifs, out, **overrides):
    return simulate_dataset(cifs, VARIANT, out, protocol_overrides={**QUICK_OVERRIDES, **overrides},
                            draws_per_cif=1, workers=1, progress=False, seed=5)


def test_vacuum_keeps_the_beam_exactly():
    record = NormRecord()
    wave = multislice(Atoms(np.zeros((0, 3)), [], (20.0, 20.0, 30.0)), Grid((64, 64), (20.0, 20.0)),
                      200e3, record=record)
    assert np.allclose(wave, 1.0, atol=1e-6) and record.intensity == pytest.approx(1.0, abs=1e-6)


def test_intensity_is_accounted_for_and_gains_only_through_the_band_limited_transmission(tmp_path):
    """Exit intensity = 1 + change by the band-limited t - loss at the aperture. A gain needs
    |t| > 1: the exact t is unitary, band-limiting it after exponentiation is what breaks it."""
    atoms = _specimen(tmp_path, "Au", 30.0, 100.0, zone=(0, 1, 1))
    record = NormRecord()
    wave = multislice(atoms, Grid((256, 256), atoms.box[:2]), 200e3, record=record)
    measured = float(np.mean(np.abs(wave.astype(np.complex128)) ** 2))
    assert record.intensity == pytest.approx(measured, abs=1e-5)  # a float32 dot product
    assert record.intensity == pytest.approx(
        1 + record.transmission_change - record.band_limit_loss, abs=1e-5)
    assert record.transmission_change > 0.01 and record.max_transmission > 1.02
    assert record.band_limit_loss > 0


def test_a_weak_scatterer_on_a_fine_grid_keeps_its_intensity_and_coarse_heavy_ones_lose(tmp_path):
    light = _specimen(tmp_path, "Si", 12.0, 20.0)
    fine = NormRecord()
    multislice(light, Grid((512, 512), light.box[:2]), 300e3, record=fine)  # 0.055 A pixels
    assert abs(1 - fine.intensity) < 2e-3
    heavy = _specimen(tmp_path, "Au", 12.0, 20.0)
    coarse = NormRecord()
    multislice(heavy, Grid((128, 128), heavy.box[:2]), 80e3, record=coarse)  # 0.22 A pixels
    assert 1 - coarse.intensity > 10 * (1 - fine.intensity)


def test_a_finer_grid_is_recorded_as_non_standard_and_agrees_where_converged(tmp_path):
    cifs = write_example_cifs(tmp_path / "cifs", ["Si"])
    _run(cifs, tmp_path / "std")
    _run(cifs, tmp_path / "fine", sim_grid=640)
    std = np.load(tmp_path / "std" / "train" / "0.npy")
    fine = np.load(tmp_path / "fine" / "train" / "0.npy")
    assert fine.shape == std.shape == (320, 320)
    assert np.linalg.norm(fine - std) / np.linalg.norm(std) < 0.02
    meta = json.loads(next((tmp_path / "fine" / "train" / "meta").glob("*.json")).read_text())
    assert meta["convergence"]["standard_sampling"] is False
    assert meta["physics"]["grid"] == [640, 640] and meta["postprocess"]["resampled_from"] == 640
    manifest = json.loads((tmp_path / "fine" / "wemd.json").read_text())
    assert manifest["generator"]["standard_sampling"] is False
    assert manifest["generator"]["protocol"]["sim_grid"] == 640
    std_meta = json.loads(next((tmp_path / "std" / "train" / "meta").glob("*.json")).read_text())
    assert std_meta["convergence"]["standard_sampling"] is True
    assert 0.99 < std_meta["convergence"]["intensity"] <= 1.0 + 1e-3


@pytest.mark.parametrize("overrides, words", [
    ({"sim_grid": 20000}, "over the limit"),
    ({"sim_grid": 16384}, r"GiB per simulation x 64 worker"),  # 1.6 TiB: fits nowhere
    ({"sim_grid": 321}, "multiple of 2"),
    ({"sim_grid": 256}, "coarser"),
    ({"sampling": 0.0005}, "--sampling"),
])
def test_grids_that_cannot_run_are_refused_before_any_work(tmp_path, overrides, words):
    cifs = write_example_cifs(tmp_path / "cifs", ["Si"])
    out = tmp_path / "out"
    with pytest.raises(SimulationRunError, match=words):
        simulate_dataset(cifs, VARIANT, out, protocol_overrides={**QUICK_OVERRIDES, **overrides},
                         workers=64 if "16384" in str(overrides) else 1, progress=False)
    assert not out.exists()


def test_simulate_check_lists_the_worst_waves_and_draws_them(tmp_path):
    cifs = write_example_cifs(tmp_path / "cifs", ["Si", "Au", "SrTiO3"])
    out = tmp_path / "out"
    _run(cifs, out)
    (out / "train" / "meta" / "99-bad.json").write_text("{not json")
    (out / "train" / "meta" / "98-old.json").write_text(json.dumps({"cif": "x"}))
    done = subprocess.run([sys.executable, "-m", "wemd", "simulate-check", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "3 waves" in text and "I_exit" in text and "2 metadata files skipped" in text
    assert "99-bad.json" in text and "no 'convergence' record" in text
    report = check_run(out)
    lost = [abs(r["intensity_lost"]) for r in report.rows]
    assert lost == sorted(lost, reverse=True) and report.rows[0]["max_z"] == 79
    png = (out / "simulate-check.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_simulate_check_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(CheckError, match="not a folder"):
        check_run(tmp_path / "absent")
    with pytest.raises(CheckError, match="no wave metadata"):
        check_run(tmp_path)
    meta = tmp_path / "train" / "meta"
    meta.mkdir(parents=True)
    (meta / "0-big.json").write_bytes(b" " * 1_000_001)
    report = check_run(tmp_path)
    assert report.rows == [] and "over 1,000,000 bytes" in report.skipped[0]
    with pytest.raises(CheckError, match="--worst -1"):
        check_run(tmp_path, worst=-1)
    with pytest.raises(CheckError, match="--rerun -2"):  # rows[:-2] would rerun nearly all
        rerun(report, tmp_path, -2)


def test_rerun_measures_the_worst_waves_against_a_finer_grid(tmp_path):
    cifs = write_example_cifs(tmp_path / "cifs", ["Si", "Au"])
    out = tmp_path / "out"
    _run(cifs, out, depth_nm=(2.0, 3.0))
    report = check_run(out)
    (result, *_) = rerun(report, tmp_path / "cifs", count=1)
    assert result["wave"] == report.rows[0]["wave"] and result["finer_grid"] == 640
    assert 0 < result["band_error"] <= result["error"] < 0.5
    saved = json.loads((out / "convergence.json").read_text())
    assert saved["factor"] == 2 and saved["waves"][0]["error"] == result["error"]
    assert "320 -> 640 px" in report.summary()
    # an edited CIF is not the one the wave was made from: named, not rerun
    (tmp_path / "cifs" / cifs[1].name).write_text(cifs[0].read_text())
    (edited, *_) = rerun(check_run(out), tmp_path / "cifs", count=2)
    assert "not the CIF this wave was made from" in edited["reason"]


def test_rerun_reads_nothing_outside_the_folders_it_was_given(tmp_path):
    cifs = write_example_cifs(tmp_path / "cifs", ["Si"])
    out = tmp_path / "out"
    _run(cifs, out)
    meta_path = next((out / "train" / "meta").glob("*.json"))
    meta = json.loads(meta_path.read_text())
    for hostile in ({"cif_file": "../cifs/0000001.cif"}, {"index": "../../../x"},
                    {"protocol": {**meta["protocol"], "grid": 100000}}):
        meta_path.write_text(json.dumps({**meta, **hostile}))
        (result,) = rerun(check_run(out), tmp_path / "cifs", count=1)
        assert "error" not in result and result["reason"], result
    # an array whose header declares terabytes it does not hold: refused unread, not allocated
    meta_path.write_text(json.dumps(meta))
    with open(out / "train" / f"{meta['index']}.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<c8", "fortran_order": False, "shape": (1 << 20, 1 << 20)})
        fh.write(b"\0" * 64)
    (result,) = rerun(check_run(out), tmp_path / "cifs", count=1)
    assert "error" not in result and result["reason"].startswith("ValueError"), result
