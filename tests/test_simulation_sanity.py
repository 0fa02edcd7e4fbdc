"""Physical sanity per CIF: density, packing, shortest distance and occupancy, with reasons."""

from __future__ import annotations

import json

import pytest

from wemd.simulation.cif import CIFError, read_cif
from wemd.simulation.examples import EXAMPLES, cif_text, write_example_cifs
from wemd.simulation.protocol import QUICK_OVERRIDES
from wemd.simulation.runner import simulate_dataset

VARIANT = "wavefunctions_restricted"


def _cif(folder, name, cod_id, formula, cell, group, sites, extra=""):
    """A COD-style CIF; ``extra`` lines (e.g. stated density, Z) go before the sites."""
    text = cif_text(name, (cod_id, "Inorganic Chemistry", formula, cell, group, sites, "test"))
    text = text.replace("loop_\n_atom_site_label", extra + "loop_\n_atom_site_label")
    path = folder / f"{cod_id}.cif"
    path.write_text(text)
    return path


def _samarium(folder, a, extra="", cod_id="3000001"):
    """fcc samarium (a = 5.16 A gives 7.27 g/cm3)."""
    return _cif(folder, "Sm", cod_id, "Sm", (a, a, a, 90, 90, 90), "F m -3 m",
                [("Sm1", "Sm", 0, 0, 0, 1)], extra)


def test_samarium_with_a_wrong_cell_is_refused_with_the_reason(tmp_path):
    good_path = _samarium(tmp_path, 5.16)
    good = read_cif(good_path)
    assert good.sanity["density_g_cm3"] == pytest.approx(7.27, abs=0.02)
    bad = _samarium(tmp_path, 8.5, cod_id="3000002")  # 1.63 g/cm3: a cell 1.65x too long
    with pytest.raises(CIFError, match=r"metals only .* fill 0\.2\d of the cell .*1\.6\d g/cm3"):
        read_cif(bad)
    summary = simulate_dataset([good_path, bad], VARIANT,
                               tmp_path / "out", protocol_overrides=QUICK_OVERRIDES,
                               draws_per_cif=1, workers=1, progress=False)
    assert summary["splits"] == {"train": 1}
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())
    (refused,) = [f for f in failures if f["cif"] == "3000002.cif"]
    assert refused["stage"] == "cif" and "the cell is too large" in refused["reason"]


@pytest.mark.parametrize("name, a, group, sites", [
    ("Cs", 6.141, "I m -3 m", [("Cs1", "Cs", 0, 0, 0, 1)]),  # the emptiest metals still pass
    ("K", 5.328, "I m -3 m", [("K1", "K", 0, 0, 0, 1)]),
    ("Li", 3.51, "I m -3 m", [("Li1", "Li", 0, 0, 0, 1)]),
])
def test_real_light_metals_pass(tmp_path, name, a, group, sites):
    crystal = read_cif(_cif(tmp_path, name, "3000010", name, (a, a, a, 90, 90, 90), group, sites))
    assert 0.3 < crystal.sanity["packing_fraction"] < 0.6


def test_a_stated_density_that_disagrees_is_refused(tmp_path):
    ok = _samarium(tmp_path, 5.16, "_exptl_crystal_density_diffrn 7.27\n")
    assert read_cif(ok).sanity["flags"] == []
    wrong = _samarium(tmp_path, 5.16, "_exptl_crystal_density_diffrn 5.10(2)\n", "3000003")
    with pytest.raises(CIFError, match=r"states 5\.1 \(_exptl_crystal_density_diffrn\)"):
        read_cif(wrong)


def test_formula_and_z_disagreeing_with_the_sites_is_flagged_and_simulated(tmp_path):
    # rock salt MgO with Z = 4 but only the Mg site: a third of the mass is missing
    path = _cif(tmp_path, "MgO", "3000004", "Mg O", (4.212,) * 3 + (90, 90, 90), "F m -3 m",
                [("Mg1", "Mg", 0, 0, 0, 1)], "_cell_formula_units_Z 4\n")
    crystal = read_cif(path)
    (flag,) = crystal.sanity["flags"]
    assert "Z = 4" in flag and "sites may be missing" in flag
    simulate_dataset([path], VARIANT, tmp_path / "out", protocol_overrides=QUICK_OVERRIDES,
                     draws_per_cif=1, workers=1, progress=False)
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())
    assert failures == [{"cif": "3000004.cif", "stage": "sanity", "flagged": True,
                         "reason": flag}]
    meta = json.loads(next((tmp_path / "out" / "train" / "meta").glob("*.json")).read_text())
    assert meta["sanity"]["flags"] == [flag]


def test_measures_of_real_crystals_and_the_software_record(tmp_path):
    paths = write_example_cifs(tmp_path / "cifs", ["Si", "Au", "Cu3Au"])
    si, au, cu3au = (read_cif(p) for p in paths)
    assert si.sanity["density_g_cm3"] == pytest.approx(2.329, abs=0.005)
    assert si.sanity["shortest_distance_A"] == pytest.approx(2.352, abs=0.002)
    assert au.sanity["density_g_cm3"] == pytest.approx(19.29, abs=0.02)
    assert cu3au.sanity["max_site_occupancy"] == 1.0  # 0.75 Cu + 0.25 Au on one site
    simulate_dataset(paths[:1], VARIANT, tmp_path / "out", protocol_overrides=QUICK_OVERRIDES,
                     draws_per_cif=1, workers=1, progress=False)
    meta = json.loads(next((tmp_path / "out" / "train" / "meta").glob("*.json")).read_text())
    import gemmi
    import numpy
    import scipy

    software = meta["software"]
    assert (software["gemmi"], software["numpy"], software["scipy"]) == (
        gemmi.__version__, numpy.__version__, scipy.__version__)
    assert meta["sanity"]["density_g_cm3"] == pytest.approx(2.329, abs=0.005)


def test_occupancies_summing_over_one_on_a_site_are_refused(tmp_path):
    cell, group = EXAMPLES["Cu3Au"][3:5]
    path = _cif(tmp_path, "CuAu", "3000005", "Au Cu", cell, group,
                [("M1", "Cu", 0, 0, 0, 0.75), ("M2", "Au", 0, 0, 0, 0.75)])
    with pytest.raises(CIFError, match="occupancies summing to 1.50"):
        read_cif(path)
