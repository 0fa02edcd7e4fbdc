"""Hostile and careless CIFs (issue 12): each case here was once accepted, crashed a run or wrote
outside OUT. Every CIF is real CIF text written by the test; one bad CIF never stops a run."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from wemd.errors import WEMDError
from wemd.simulation import geometry
from wemd.simulation.cif import DENSITY_RANGE, CIFError, fetch_cod_cifs, read_cif
from wemd.simulation.examples import EXAMPLES, cif_text, write_example_cifs
from wemd.simulation.geometry import build_specimen
from wemd.simulation.protocol import QUICK_OVERRIDES
from wemd.simulation.runner import load_crystals, simulate_dataset

QUICK = {k: list(v) if isinstance(v, tuple) else v for k, v in QUICK_OVERRIDES.items()}
VARIANT = "wavefunctions_restricted"  # train, val and test splits


def entry(base: str = "Si", **changes) -> tuple:
    """An :data:`EXAMPLES` entry with fields replaced (id, journal, cell, group, sites)."""
    cod_id, journal, formula, cell, group, sites, ref = EXAMPLES[base]
    fields = {"id": cod_id, "journal": journal, "formula": formula, "cell": cell, "group": group,
              "sites": sites}
    fields.update(changes)
    return (fields["id"], fields["journal"], fields["formula"], fields["cell"], fields["group"],
            fields["sites"], ref)


def write(folder, name: str, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def simulate(cifs, out, **kwargs) -> dict:
    return simulate_dataset(cifs, VARIANT, out, protocol_overrides=QUICK, draws_per_cif=1,
                            workers=1, progress=False, **kwargs)


def failure_of(summary: dict, cif: str) -> dict:
    found = [f for f in summary["failures"] if f["cif"] == cif]
    assert len(found) == 1, summary["failures"]
    return found[0]


# ------------------------------------------------------------------- names from input (item 2)

@pytest.mark.parametrize("bad_id", ["../../../../ESCAPED", "sub/ESCAPED", ".ESCAPED",
                                    "ESCAPED" + "x" * 243],
                         ids=["parent folders", "subfolder", "hidden", "overlong"])
def test_a_cif_id_never_names_a_file_outside_out(tmp_path, bad_id):
    cifs = tmp_path / "cifs"
    write_example_cifs(cifs, ["Si"])
    write(cifs, "bad.cif", cif_text("MgO", entry("MgO", id=bad_id)))
    out = tmp_path / "deep" / "out"
    summary = simulate(cifs, out)
    assert summary["splits"] == {"train": 1}  # the good CIF is simulated; the run went on
    failure = failure_of(summary, "bad.cif")
    assert failure["stage"] == "cif" and "CIF id" in failure["reason"]
    written = [p for p in tmp_path.rglob("*") if "ESCAPED" in p.name]
    assert written == []  # neither outside OUT nor inside it under a rewritten name
    assert json.loads((out / "failures.json").read_text()) == summary["failures"]


def test_cod_ids_to_fetch_are_ascii_numbers(tmp_path):
    with pytest.raises(CIFError, match="a COD id is a number"):
        fetch_cod_cifs(["\uff11\uff10\uff10"], tmp_path / "cache", base_url="http://127.0.0.1:9/")
    assert not any((tmp_path / "cache").iterdir())


# ----------------------------------------------------------------- non-UTF-8 names (item 13)

def test_a_non_utf8_file_name_is_a_failure_named_readably(tmp_path):
    cifs = tmp_path / "cifs"
    write_example_cifs(cifs, ["Si"])
    raw = os.path.join(os.fsencode(cifs), b"\xff\xfe.cif")
    try:
        with open(raw, "wb") as fh:
            fh.write(cif_text("MgO", EXAMPLES["MgO"]).encode())
    except OSError:
        pytest.skip("this file system refuses non-UTF-8 names")
    with pytest.raises(CIFError, match=r"\\xff\\xfe\.cif.*UTF-8"):
        read_cif(os.fsdecode(raw))
    out = tmp_path / "out"
    summary = simulate(cifs, out)
    assert summary["splits"] == {"train": 1}
    failure = failure_of(summary, "\\xff\\xfe.cif")
    assert failure["stage"] == "cif" and "UTF-8" in failure["reason"]
    assert json.loads((out / "failures.json").read_bytes().decode("utf-8", "strict")) == \
        summary["failures"]


# ------------------------------------------------------------------------ screening (item 11)

def _without(prefix: str):
    return lambda text: "\n".join(l for l in text.splitlines() if not l.startswith(prefix)) + "\n"


def _p1(cell, *sites):
    """A P1 silicon-only CIF with the given cell and (x, y, z, occupancy) sites."""
    return cif_text("Si", entry(cell=cell, group="P 1", sites=[
        (f"Si{i}", "Si", x, y, z, occ) for i, (x, y, z, occ) in enumerate(sites, 1)]))


SI = EXAMPLES["Si"]
CUBE = (5.0, 5.0, 5.0, 90, 90, 90)
HOSTILE = {
    "no cell": (_without("_cell_")(cif_text("Si", SI)), r"_cell_length_a"),
    "lengths without angles": (_without("_cell_angle")(cif_text("Si", SI)), r"_cell_angle"),
    "negative lengths": (cif_text("Si", entry(cell=(5.431, -5.431, -5.431, 90, 90, 90))),
                         r"lengths .* positive"),
    "negative angle": (cif_text("Si", entry(cell=(5.431, 5.431, 5.431, -90, 90, 90))),
                       r"angles .* between 0 and 180"),
    "reflex angle": (cif_text("Si", entry(cell=(5.431, 5.431, 5.431, 90, 270, 90))),
                     r"angles .* between 0 and 180"),
    "angles with no volume": (cif_text("Si", entry(cell=(5.431, 5.431, 5.431, 60, 60, 150))),
                              r"no positive volume"),
    "NaN coordinate": (_p1(CUBE, (float("nan"), 0, 0, 1)), r"non-finite coordinate"),
    "unknown coordinate": (_p1(CUBE, (0, 0, 0, 1)).replace("0.000000 0.000000 0.000000",
                                                            "? 0 0"), r"non-finite coordinate"),
    "negative occupancy": (_p1(CUBE, (0, 0, 0, -1)), r"occupanc"),
    "occupancy above one": (_p1(CUBE, (0, 0, 0, 2)), r"occupanc"),
    "0.05 A cell (16 M atoms)": (_p1((0.05, 0.05, 0.05, 90, 90, 90), (0, 0, 0, 1)),
                                 r"density .* atoms per cubic Angstrom"),
    "cell in pm, not Angstrom": (cif_text("Si", entry(cell=(543.1, 543.1, 543.1, 90, 90, 90))),
                                 r"density .* atoms per cubic Angstrom"),
    "overlapping atoms": (_p1(CUBE, (0, 0, 0, 1), (0.06, 0, 0, 1)), r"0\.30 Angstrom apart"),
    "needle cell": (_p1((0.3, 10, 10, 90, 90, 90), (0, 0, 0, 1)), r"0\.30 Angstrom apart"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_screening_refuses_impossible_crystals_with_the_reason(tmp_path, case):
    text, reason = HOSTILE[case]
    path = write(tmp_path, "hostile.cif", text)
    with pytest.raises(CIFError, match=reason) as info:
        read_cif(path)
    assert info.value.source == "hostile.cif"


def test_real_crystals_pass_the_screen(tmp_path):
    """The bounds leave room for what real structures do: the densest solid (diamond), mixed
    sites (disordered Cu3Au), split sites closer than the distance bound, open frameworks."""
    diamond = entry(cell=(3.567, 3.567, 3.567, 90, 90, 90), sites=[("C1", "C", 0, 0, 0, 1)],
                    formula="C")
    assert len(read_cif(write(tmp_path, "c.cif", cif_text("C", diamond))).fractional) == 8
    split = _p1(CUBE, (0, 0, 0, 0.5), (0.06, 0, 0, 0.5), (0.5, 0.5, 0.5, 0.52))
    assert len(read_cif(write(tmp_path, "split.cif", split)).fractional) == 3
    cu3au = read_cif(write(tmp_path, "cu3au.cif", cif_text("Cu3Au", EXAMPLES["Cu3Au"])))
    assert cu3au.has_mixed_sites
    cs = entry(cell=(6.14, 6.14, 6.14, 90, 90, 90), group="I m -3 m", formula="Cs",
               sites=[("Cs1", "Cs", 0, 0, 0, 1)])  # caesium: among the least dense solids
    assert len(read_cif(write(tmp_path, "cs.cif", cif_text("Cs", cs))).fractional) == 2


def test_one_bad_cif_never_stops_a_run(tmp_path):
    cifs = tmp_path / "cifs"
    write_example_cifs(cifs, ["Si", "MgO", "SrTiO3"])
    bad = {"nan.cif": "NaN coordinate", "no-cell.cif": "no cell",
           "tiny.cif": "0.05 A cell (16 M atoms)", "negative.cif": "negative lengths"}
    for k, (name, case) in enumerate(bad.items()):
        write(cifs, name, HOSTILE[case][0].replace("0000001", f"100000{k}"))
    summary = simulate(cifs, tmp_path / "out")
    assert summary["splits"] == {"train": 1, "val": 1, "test": 1}
    assert sorted(f["cif"] for f in summary["failures"] if f["stage"] == "cif") == sorted(bad)


def test_supercells_over_the_atom_limit_are_refused_before_tiling(tmp_path):
    gold = read_cif(write_example_cifs(tmp_path, ["Au"])[0])
    width, depth = 250.0, 1600.0  # ~5.9 M atoms of gold (4 per 4.0782 A cube)
    with pytest.raises(WEMDError, match="atom limit"):
        build_specimen(gold, (0, 0, 1), (0, 0, 0), width, depth, np.random.default_rng(0))
    assert 4 / 4.0782**3 * width * width * depth > geometry.MAX_ATOMS
    # whatever passes the screen fits the protocol's largest box (10 x 10 x 100 nm)
    assert DENSITY_RANGE[1] * 100 * 100 * 1000 < geometry.MAX_ATOMS
    assert len(build_specimen(gold, (0, 0, 1), (0, 0, 0), 20.0, 20.0,
                              np.random.default_rng(0)).numbers) > 0


# ---------------------------------------------------------------- duplicates and conflicts

def test_a_partially_occupied_variant_is_no_duplicate_of_the_full_one(tmp_path):
    full = cif_text("Au", EXAMPLES["Au"])
    partial = cif_text("Au", entry("Au", sites=[("Au1", "Au", 0, 0, 0, 0.6)]))
    outcomes = []
    for first, second in ((full, partial), (partial, full)):  # file order must not matter
        folder = tmp_path / str(len(outcomes))
        paths = [write(folder, "a.cif", first), write(folder, "b.cif", second)]
        good, failures = load_crystals(paths, lambda journal: "train")
        assert good == []  # same id, different structures: neither is silently dropped
        assert sorted(f["cif"] for f in failures) == ["a.cif", "b.cif"]
        assert all("duplicate" not in f["reason"] and "0000003" in f["reason"]
                   and "different structures" in f["reason"] for f in failures)
        outcomes.append(sorted(f["reason"] for f in failures))
    assert outcomes[0] == outcomes[1]


def test_the_same_structure_is_a_duplicate_whatever_its_id_or_file_order(tmp_path):
    gaas = EXAMPLES["GaAs"]
    texts = {"si.cif": cif_text("Si", SI),
             "si-again.cif": cif_text("Si", entry(id="0000042", journal="Chemistry of Materials")),
             "gaas.cif": cif_text("GaAs", gaas),
             "gaas-reordered.cif": cif_text("GaAs", entry("GaAs", id="0000043",
                                                          sites=list(reversed(gaas[5]))))}
    paths = [write(tmp_path, name, text) for name, text in texts.items()]
    for order in (paths, paths[::-1]):
        good, failures = load_crystals(order, lambda journal: "train")
        assert sorted(c.name for _, c in good) == ["0000001", "0000002"]
        assert sorted((f["cif"], f["reason"]) for f in failures) == [
            ("gaas-reordered.cif", "duplicate of gaas.cif (same structure)"),
            ("si-again.cif", "duplicate of si.cif (same structure)")]


# ------------------------------------------------------------------------------ journals

def test_journal_names_are_whitespace_normalised(tmp_path):
    text = cif_text("Si", SI).replace("_journal_name_full 'Inorganic Chemistry'",
                                      "_journal_name_full\n;\nInorganic\n   Chemistry  \n;")
    path = write(tmp_path / "cifs", "0000001.cif", text)
    crystal = read_cif(path)
    assert crystal.journal == "Inorganic Chemistry" and crystal.split == "train"
    simulate(tmp_path / "cifs", tmp_path / "out")
    meta = json.loads(next((tmp_path / "out" / "train" / "meta").glob("*.json")).read_text())
    assert meta["journal"] == "Inorganic Chemistry"
