"""The dataset driver end to end: layout, metadata, resume, failures, Dask and a killed run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import wemd
from wemd.cli import main as cli_main
from wemd.simulation.examples import write_example_cifs
from wemd.simulation.protocol import QUICK_OVERRIDES
from wemd.simulation.runner import SimulationRunError, _default_workers, simulate_dataset
from wemd.verify import verify

#: Thin, narrow crystals on a 320 grid: each wave takes a few tens of milliseconds.
SMALL = {k: list(v) if isinstance(v, tuple) else v for k, v in QUICK_OVERRIDES.items()}


@pytest.fixture(scope="module")
def cif_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifs")
    write_example_cifs(folder, include_rejected=True)  # 7 usable CIFs + brucite (hydrogen)
    return folder


@pytest.fixture(scope="module")
def restricted(cif_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("restricted")
    summary = simulate_dataset(cif_dir, "wavefunctions_restricted", out, seed=3,
                               protocol_overrides=SMALL, draws_per_cif=2, workers=1,
                               progress=False)
    return out, summary


def _overrides(fields):
    return [f"--override={k}={json.dumps(v)}" for k, v in fields.items()]


def _data_hashes(out):
    return {k: v["sha256"] for k, v in json.loads((out / "wemd.json").read_text())["files"].items()}


def test_writes_the_wemd_layout_that_load_and_verify_accept(restricted):
    out, summary = restricted
    assert summary["splits"] == {"train": 8, "val": 4, "test": 2}
    manifest = json.loads((out / "wemd.json").read_text())
    assert manifest["provenance"] == "simulated" and manifest["dataset"] == "wavefunctions_restricted"
    assert manifest["splits"] == {"train": 8, "val": 4, "test": 2}
    assert manifest["generator"]["backend"] == "numpy" and manifest["generator"]["seed"] == 3
    assert manifest["generator"]["protocol_overrides"] == SMALL
    ds = wemd.load("wavefunctions_restricted", "train", root=out)
    assert len(ds) == 8
    wave = ds[0]
    assert wave.shape == (320, 320) and wave.dtype == np.complex64
    assert np.mean(np.abs(wave)) == pytest.approx(1.0, rel=1e-5)
    report = verify("wavefunctions_restricted", root=out, progress=False)
    assert report.ok, str(report)
    assert report.counts == {"train": 8, "val": 4, "test": 2}


def test_metadata_records_every_draw_and_the_physics_used(restricted):
    out, _ = restricted
    metas = sorted((out / "test" / "meta").glob("*.json"))
    assert [m.name for m in metas] == ["0-0000007.json", "1-0000007.json"]
    meta = json.loads(metas[1].read_text())
    assert meta["cif"] == "0000007" and meta["journal"] == "Chemistry of Materials"
    assert meta["split"] == "test" and meta["draw"] == 1 and meta["seed"] == 3
    hyper = meta["hyperparameters"]
    assert 5.0 <= hyper["depth_nm"] * 10 <= 10.0 and set(hyper) >= {
        "voltage_kv", "width_nm", "zone_axis", "zone_000_redraws", "tilt_deg", "imaging"}
    physics = meta["physics"]
    assert physics["voltage_kv"] == hyper["voltage_kv"] and physics["kirkland_terms"] == 3
    assert physics["pixel_size_A"] == pytest.approx((hyper["width_nm"] * 10 + 16) / 320)
    assert physics["interaction_constant_per_V_A"] > 0 and physics["slices"] > 10
    assert meta["protocol"]["depth_nm"] == [0.5, 1.0]  # the override is on record
    assert meta["software"]["backend"] == "numpy"


def test_rejected_cifs_are_logged_with_the_reason(restricted):
    out, summary = restricted
    failures = json.loads((out / "failures.json").read_text())
    assert failures == summary["failures"]
    assert [(f["cif"], f["stage"]) for f in failures] == [("0000008.cif", "cif")]
    assert "hydrogen" in failures[0]["reason"]


def test_rerun_skips_verified_outputs_and_redoes_damaged_ones(restricted, cif_dir, tmp_path):
    out, _ = restricted
    before = _data_hashes(out)
    again = simulate_dataset(cif_dir, "wavefunctions_restricted", out, seed=3, workers=1,
                             protocol_overrides=SMALL, draws_per_cif=2, progress=False)
    assert again["ran"] == 0 and again["skipped"] == 14
    staged = sorted(out.glob(".work/*/val/*.npy"))[0]
    staged.write_bytes(staged.read_bytes()[:-100])  # a damaged output is not "done"
    third = simulate_dataset(cif_dir, "wavefunctions_restricted", out, seed=3,
                             protocol_overrides=SMALL, draws_per_cif=2, progress=False)  # 1 task: no cluster
    assert third["ran"] == 1
    assert _data_hashes(out) == before


def test_other_settings_never_reuse_finished_work(cif_dir, tmp_path):
    out = tmp_path / "mixed"
    first = simulate_dataset([cif_dir / "0000001.cif"], "wavefunctions_restricted", out, seed=1,
                             protocol_overrides=SMALL, draws_per_cif=1, workers=1, progress=False)
    other_seed = simulate_dataset([cif_dir / "0000001.cif"], "wavefunctions_restricted", out,
                                  seed=2, protocol_overrides=SMALL, draws_per_cif=1, workers=1,
                                  progress=False)
    assert first["ran"] == other_seed["ran"] == 1
    cif = tmp_path / "edited" / "0000001.cif"
    cif.parent.mkdir()
    cif.write_text((cif_dir / "0000001.cif").read_text().replace("5.431", "5.430"))
    edited = simulate_dataset([cif], "wavefunctions_restricted", out, seed=2,
                              protocol_overrides=SMALL, draws_per_cif=1, workers=1, progress=False)
    assert edited["ran"] == 1  # same name, new content: simulated again
    with pytest.raises(SimulationRunError, match="already holds 'wavefunctions_restricted'"):
        simulate_dataset([cif_dir / "0000001.cif"], "wavefunctions_n1", out, workers=1,
                         protocol_overrides=SMALL, draws_per_cif=1, progress=False)


def test_96x96_variant_is_one_array(cif_dir, tmp_path):
    out = tmp_path / "small"
    code = cli_main(["simulate", "--cifs", str(cif_dir), "--variant",
                     "wavefunctions_96x96_restricted", "--out", str(out), "--draws", "1",
                     "--workers", "1", "--quiet"] + _overrides(SMALL))
    assert code == 0
    array = np.load(out / "wavefunctions_96x96_restricted.npy")
    assert array.shape == (7, 96, 96, 2) and array.dtype == np.float32
    assert sorted(p.name for p in (out / "meta").glob("*.json"))[0] == "0-0000001.json"
    test = wemd.load("wavefunctions_96x96_restricted", "test", root=out)
    assert len(test) == 1 and test[0].shape == (96, 96, 2)
    assert verify("wavefunctions_96x96_restricted", root=out, progress=False).ok


def test_single_material_and_unseen_variants(cif_dir, tmp_path):
    single = simulate_dataset([cif_dir / "0000001.cif"], "wavefunctions_single", tmp_path / "s",
                              protocol_overrides=SMALL, draws_per_cif=5, workers=1,
                              progress=False)
    assert single["splits"] == {"train": 4, "val": 1}  # 3861 : 964 of the draws
    unseen = simulate_dataset([cif_dir / "0000001.cif", cif_dir / "0000005.cif"],
                              "wavefunctions_unseen", tmp_path / "u", protocol_overrides=SMALL,
                              draws_per_cif=1, workers=1, progress=False)
    assert unseen["splits"] == {"val": 1}  # only training-set CIFs, new hyperparameters
    assert [(f["cif"], f["stage"]) for f in unseen["failures"]] == [("0000005.cif", "partition")]
    seen_meta = json.loads(next((tmp_path / "s" / "train" / "meta").glob("0-*.json")).read_text())
    unseen_meta = json.loads(next((tmp_path / "u" / "val" / "meta").glob("0-*.json")).read_text())
    assert seen_meta["hyperparameters"] != unseen_meta["hyperparameters"]


def test_abtem_backend_names_its_extra_when_missing(monkeypatch, cif_dir, tmp_path):
    monkeypatch.setitem(sys.modules, "abtem", None)  # as if abTEM were not installed
    with pytest.raises(wemd.MissingExtraError, match=r"wemd\[abtem\]"):
        simulate_dataset(cif_dir, "wavefunctions", tmp_path / "a", backend="abtem", workers=1)
    assert not (tmp_path / "a" / "wemd.json").exists()


def test_default_is_a_local_cluster_with_one_worker_per_core():
    assert _default_workers(None, None) == (os.cpu_count() or 1)
    assert _default_workers(1, None) == 1 and _default_workers(None, "tcp://h:1") == 1
    with pytest.raises(SimulationRunError, match="at least 1"):
        _default_workers(0, None)


@pytest.mark.slow
def test_dask_local_cluster_of_two_workers_gives_the_same_result(restricted, cif_dir, tmp_path):
    out, _ = restricted
    summary = simulate_dataset(cif_dir, "wavefunctions_restricted", tmp_path / "dask", seed=3,
                               protocol_overrides=SMALL, draws_per_cif=2, workers=2,
                               progress=False)
    assert summary["ran"] == 14
    assert _data_hashes(tmp_path / "dask") == _data_hashes(out)


@pytest.mark.slow
def test_existing_scheduler_is_used(restricted, cif_dir, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        code = cli_main(["simulate", "--cifs", str(cif_dir), "--variant",
                         "wavefunctions_restricted", "--out", str(tmp_path / "tcp"), "--seed", "3",
                         "--draws", "2", "--scheduler", cluster.scheduler_address, "--quiet"]
                        + _overrides(SMALL))
    assert code == 0
    assert _data_hashes(tmp_path / "tcp") == _data_hashes(restricted[0])


@pytest.mark.slow
def test_killed_run_resumes_to_the_identical_result(cif_dir, tmp_path):
    slow = {**SMALL, "depth_nm": [2.0, 3.0]}
    args = ["--cifs", str(cif_dir), "--variant", "wavefunctions_restricted", "--seed", "5",
            "--draws", "2", "--workers", "1", "--quiet"] + _overrides(slow)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "wemd.cli", "simulate", "--out", str(killed),
                             *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while len(list(killed.glob(".work/*/*/*.json"))) < 3 and time.time() < deadline:
            assert proc.poll() is None, "the run finished before it could be killed"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    done_at_kill = len(list(killed.glob(".work/*/*/*.json")))
    assert proc.returncode == -signal.SIGKILL and 3 <= done_at_kill < 14
    assert not (killed / "wemd.json").exists()
    assert cli_main(["simulate", "--out", str(killed), *args]) == 0
    fresh = tmp_path / "fresh"
    assert cli_main(["simulate", "--out", str(fresh), *args]) == 0
    assert _data_hashes(killed) == _data_hashes(fresh)
    assert len(_data_hashes(fresh)) == 2 * 14  # 7 usable CIFs x 2 draws, array + metadata
