"""The clTEM backend's contract, against a stand-in ``clTEM_cmd`` made here.

Real clTEM (OpenCL) is not installed on this machine and was not run. The stand-in checks the
command line and the config exactly as clTEM's ``cltem_cmd`` and ``JsonToManager`` read them
(a bare number where clTEM expects ``{"val": ...}`` is ignored and the default, 200 kV, used),
and writes EW_amplitude.tif / EW_phase.tif (float32) with JSON side files as clTEM does.
"""

from __future__ import annotations

import json
import stat
import sys
import textwrap

import numpy as np
import pytest

import wemd
from wemd.simulation.backends import BackendError, CltemBackend, cltem_config
from wemd.simulation.examples import write_example_cifs
from wemd.simulation.protocol import RESTRICTED, sample_hyperparameters
from wemd.simulation.runner import SimulationRunError, simulate_dataset

STAND_IN = textwrap.dedent('''\
    #!{python}
    """Stand-in for clTEM_cmd: argument and config checks, outputs in clTEM's format."""
    import getopt, json, os, sys
    import numpy as np, tifffile

    def fail(msg, code=1):
        print(msg, file=sys.stderr)
        sys.exit(code)

    opts, rest = getopt.gnu_getopt(sys.argv[1:], "hvlo:c:d:s:z:n:t:")
    opts = dict(opts)
    if "-v" in opts:
        print("clTEM command line interface v0.2a (stand-in)")
        sys.exit(0)
    if len(rest) != 1 or not rest[0].endswith(".cif") or not os.path.isfile(rest[0]):
        fail("Require a .xyz or .cif file non-option argument")
    for flag in ("-o", "-c", "-d", "-s", "-z"):
        if flag not in opts:
            fail("missing required option " + flag)
    size = [float(v) for v in opts["-s"].split(",")]
    zone = [int(v) for v in opts["-z"].split(",")]
    tilt = [float(v) for v in opts.get("-t", "0,0,0").split(",")]
    if len(size) != 3 or len(zone) != 3 or len(tilt) != 3 or not any(zone):
        fail("Could not parse .cif size/zone/tilt argument")
    if os.path.basename(rest[0]) == os.environ.get("FAKE_CLTEM_FAIL"):
        fail("OpenCL error: CL_OUT_OF_RESOURCES", 3)
    if os.path.basename(rest[0]) == os.environ.get("FAKE_CLTEM_KILL_CALLER"):
        os.kill(os.getppid(), 9)  # a driver crash that takes the calling worker down
    cfg = json.load(open(opts["-c"]))
    def read(*keys, default):
        node = cfg
        try:
            for k in keys:
                node = node[k]
        except (KeyError, TypeError):
            return default  # clTEM catches json::out_of_range and keeps its default
        return node
    voltage = read("microscope", "voltage", "val", default=200.0)
    mode = read("mode", "id", default=0)  # SimulationMode: None = 0 (taken as CTEM), CTEM = 1
    resolution = read("resolution", default=256)
    dz = read("slice thickness", "val", default=1.0)
    full3d = read("full 3d", "state", default=False)
    c10 = read("microscope", "aberrations", "C10", "val", default=0.0)
    c12 = (read("microscope", "aberrations", "C12", "mag", default=0.0),
           read("microscope", "aberrations", "C12", "ang", default=0.0))
    if mode not in (0, 1) or full3d or dz != 1.0:
        fail("unexpected mode / full 3d / slice thickness")
    y, x = np.mgrid[0:resolution, 0:resolution] / resolution
    amplitude = (1.0 + 0.1 * np.cos(2 * np.pi * 7 * x)).astype(np.float32)
    phase = (voltage / 1000.0 * np.sin(2 * np.pi * 5 * y) + 0.01 * size[2]).astype(np.float32)
    out = opts["-o"]
    settings = {{"microscope": {{"voltage": {{"val": voltage, "units": "kV"}}}},
                "resolution": resolution, "filename": rest[0],
                "received": {{"size": size, "zone": zone, "tilt": tilt, "device": opts["-d"],
                             "C10": c10, "C12": c12}}}}
    for name, data in (("EW_amplitude", amplitude), ("EW_phase", phase),
                       ("Image", amplitude ** 2), ("Diff", amplitude)):
        tifffile.imwrite(os.path.join(out, name + ".tif"), data)
        json.dump(settings, open(os.path.join(out, name + ".json"), "w"))
''')


@pytest.fixture
def cltem(tmp_path):
    path = tmp_path / "bin" / "clTEM_cmd"
    path.parent.mkdir()
    path.write_text(STAND_IN.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def cifs(tmp_path):
    return write_example_cifs(tmp_path / "cifs", ["Si", "MgO", "TiO2", "SrTiO3"])


def test_config_nests_every_value_as_cltem_reads_it():
    hyper = sample_hyperparameters(RESTRICTED, "1000041", 0, 0)
    config = cltem_config(hyper, RESTRICTED)
    microscope = config["microscope"]
    assert microscope["voltage"] == {"val": hyper["voltage_kv"], "units": "kV"}
    assert microscope["aperture"]["val"] == hyper["imaging"]["aperture_mrad"]
    assert microscope["objective aperture"]["semi-angle"] == hyper["imaging"]["aperture_mrad"]
    assert microscope["alpha"]["val"] == hyper["imaging"]["alpha_mrad"]
    assert microscope["delta"]["val"] == hyper["imaging"]["delta_nm"]
    assert config["mode"]["id"] == 1 and config["resolution"] == 512
    assert config["slice thickness"]["val"] == 1.0 and config["full 3d"]["state"] is False
    c12 = config["microscope"]["aberrations"]["C12"]
    assert c12["mag"] == hyper["imaging"]["C12_mag_nm"] and c12["ang"] == hyper["imaging"]["C12_ang_deg"]
    assert config["microscope"]["aberrations"]["C30"]["val"] == hyper["imaging"]["C30_um"]


@pytest.mark.slow
def test_runs_cltem_and_keeps_the_drawn_voltage(cltem, cifs, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_CLTEM_FAIL", "0000006.cif")  # one job fails on the "device"
    out = tmp_path / "out"
    summary = simulate_dataset(cifs, "wavefunctions_restricted", out, backend="cltem",
                               backend_options={"executable": str(cltem), "device": "gpu"},
                               draws_per_cif=2, workers=1, progress=False)
    assert summary["splits"] == {"train": 2, "val": 2, "test": 2}
    failed = [(f["cif"], f["stage"]) for f in summary["failures"]]
    assert failed == [("0000006", "simulate")] * 2
    assert all("CL_OUT_OF_RESOURCES" in f["reason"] for f in summary["failures"])
    meta = json.loads(next((out / "test" / "meta").glob("1-*.json")).read_text())
    hyper = meta["hyperparameters"]
    settings = meta["physics"]["cltem_settings"]
    assert meta["physics"]["voltage_kv"] == hyper["voltage_kv"] == settings["microscope"]["voltage"]["val"]
    received = settings["received"]
    assert received["size"] == pytest.approx([hyper["width_nm"] * 10] * 2 + [hyper["depth_nm"] * 10])
    assert received["zone"] == hyper["zone_axis"] and received["device"] == "gpu"
    assert received["tilt"] == pytest.approx(hyper["tilt_deg"])
    assert received["C10"] == pytest.approx(hyper["imaging"]["C10_nm"])
    assert meta["software"]["backend_version"].startswith("clTEM command line interface")
    assert meta["physics"]["command"][:5] == ["0000007.cif", "-o", "OUT", "-c", "CONFIG.json"]
    assert settings["filename"] == "0000007.cif"
    # the wave is amplitude * exp(i phase), centre-cropped to 320 and normalised
    wave = wemd.load("wavefunctions_restricted", "test", root=out)[1]
    y = (np.arange(96, 416) / 512)[:, None]
    expected_phase = hyper["voltage_kv"] / 1000 * np.sin(2 * np.pi * 5 * y) + 0.01 * hyper["depth_nm"] * 10
    assert np.allclose(np.angle(wave), np.broadcast_to(expected_phase, (320, 320)), atol=1e-5)
    assert np.mean(np.abs(wave)) == pytest.approx(1.0, rel=1e-5)


def test_bare_voltage_number_would_be_lost(cltem, cifs, tmp_path):
    """The original defect, reproduced against the stand-in: a bare number falls back to 200 kV."""
    import subprocess

    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"mode": {"id": 0}, "resolution": 64, "microscope": {"voltage": 300}}))
    out = tmp_path / "o"
    out.mkdir()
    subprocess.run([str(cltem), str(cifs[0]), "-o", str(out), "-c", str(config), "-d", "gpu",
                    "-s", "50,50,100", "-z", "0,0,1"], check=True)
    assert json.loads((out / "EW_amplitude.json").read_text())["microscope"]["voltage"]["val"] == 200.0


def test_n1_needs_a_build_with_the_old_kernel(cltem, cifs, tmp_path):
    with pytest.raises(SimulationRunError, match="sums 3 Kirkland terms but the variant needs n = 1"):
        simulate_dataset(cifs[:1], "wavefunctions_n1", tmp_path / "n1", backend="cltem",
                         backend_options={"executable": str(cltem)}, draws_per_cif=1,
                         workers=1, progress=False)


def test_missing_executable_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("WEMD_CLTEM", raising=False)
    with pytest.raises(BackendError, match="--cltem PATH"):
        CltemBackend(executable=str(tmp_path / "nowhere" / "clTEM_cmd"))


@pytest.mark.slow
def test_a_task_that_kills_its_dask_worker_is_logged_not_fatal(cltem, cifs, tmp_path, monkeypatch):
    pytest.importorskip("distributed")  # first: its config defaults must exist before the set
    import dask

    monkeypatch.setenv("FAKE_CLTEM_KILL_CALLER", "0000006.cif")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        summary = simulate_dataset(cifs, "wavefunctions_restricted", tmp_path / "out",
                                   backend="cltem", backend_options={"executable": str(cltem)},
                                   draws_per_cif=1, workers=2, progress=False)
    assert summary["splits"] == {"train": 1, "val": 1, "test": 1}
    (failure,) = summary["failures"]
    assert failure["cif"] == "0000006" and "KilledWorker" in failure["reason"]
