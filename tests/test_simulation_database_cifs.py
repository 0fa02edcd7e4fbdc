"""``wemd simulate`` on CIFs written the way COD and ICSD write them: multi-line journal text
fields, citation loops, symmetry operators as ``_space_group_symop_operation_xyz`` or
``_symmetry_equiv_pos_as_xyz``, uncertainties in parentheses, partial occupancy, one structure
under two ids, and hostile journal fields and split maps."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import gemmi
import numpy as np
import pytest

from wemd import catalog
from wemd.journals import MAX_JOURNAL_CHARS
from wemd.errors import CorruptFileError
from wemd.loaders.layouts import read_cif_journal
from wemd.simulation.cif import MAX_CIF_BYTES, CIFError, read_cif, structure_hash
from wemd.simulation.examples import EXAMPLES, cif_text, write_example_cifs
from wemd.simulation.protocol import QUICK_OVERRIDES
from wemd.simulation.runner import SimulationRunError, simulate_dataset
from wemd.simulation.splits import SplitRuleError, make_split_rule

VARIANT = "wavefunctions"
QUICK = {**QUICK_OVERRIDES, "depth_nm": (0.3, 0.4)}


def cod_nacl(journal_field: str = "\n;\nInorganic\n  Chemistry\n;", cod_id: str = "1000041") -> str:
    """Rock salt as the COD writes it: a journal in a text field, operators in a symop loop,
    cell lengths with uncertainties."""
    ops = gemmi.find_spacegroup_by_name("F m -3 m").operations()
    symops = "\n".join(f"{i + 1} {op.triplet()}" for i, op in enumerate(ops))
    return (f"data_{cod_id}\n_publ_section_title\n;\nSodium chloride\nstructure factors\n;\n"
            f"_journal_name_full{journal_field}\n_journal_year 1965\n"
            "_chemical_formula_sum 'Cl Na'\n_space_group_IT_number 225\n"
            "_cell_length_a 5.62(1)\n_cell_length_b 5.62(1)\n_cell_length_c 5.62(1)\n"
            "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
            f"_cell_formula_units_Z 4\n_cod_database_code {cod_id}\n"
            "loop_\n_space_group_symop_id\n_space_group_symop_operation_xyz\n" + symops + "\n"
            "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
            "_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n"
            "Na1 Na+ 0. 0. 0. 1.\nCl1 Cl- 0.5 0.5 0.5 1.\n")


def icsd_sige(icsd_id: str, primary: str = "'Inorg. Chem.'") -> str:
    """A Si0.7Ge0.3 alloy as ICSD writes it: journals only in a citation loop (the primary
    one not first), ``_symmetry_equiv_pos_as_xyz``, a shared site with partial occupancy."""
    ops = gemmi.find_spacegroup_by_name("F d -3 m:2").operations()
    symops = "\n".join(f"{i + 1} '{op.triplet()}'" for i, op in enumerate(ops))
    return (f"data_{icsd_id}\n_database_code_ICSD {icsd_id}\n"
            "_chemical_formula_sum 'Ge0.3 Si0.7'\n"
            "loop_\n_citation_id\n_citation_journal_full\n_citation_year\n"
            f"2 'Phase Transition' 1990\nprimary {primary} 2001\n"
            "_cell_length_a 5.4945(3)\n_cell_length_b 5.4945(3)\n_cell_length_c 5.4945(3)\n"
            "_cell_angle_alpha 90.\n_cell_angle_beta 90.\n_cell_angle_gamma 90.\n"
            "_cell_formula_units_Z 8\n_symmetry_space_group_name_H-M 'F d -3 m Z'\n"
            "loop_\n_symmetry_equiv_pos_site_id\n_symmetry_equiv_pos_as_xyz\n" + symops + "\n"
            "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
            "_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_B_iso_or_equiv\n"
            "_atom_site_occupancy\n"
            "Si1 Si0+ 0.125 0.125 0.125 0.45(2) 0.70(1)\n"
            "Ge1 Ge0+ 0.125 0.125 0.125 0.45(2) 0.30(1)\n")


@pytest.fixture(scope="module")
def cifs(tmp_path_factory):
    """The 7 example CIFs, COD rock salt, and one ICSD alloy under two ids."""
    folder = tmp_path_factory.mktemp("db") / "cifs"
    write_example_cifs(folder)
    (folder / "1000041.cif").write_text(cod_nacl())
    (folder / "77001.cif").write_text(icsd_sige("77001"))
    (folder / "77002.cif").write_text(icsd_sige("77002", "'Inorganic Chemistry'"))
    return folder


def _run(cifs, out, **kwargs):
    return simulate_dataset(cifs, VARIANT, out, protocol_overrides=QUICK, draws_per_cif=1,
                            workers=1, progress=False, **kwargs)


def _wemd(*args: str):
    return subprocess.run([sys.executable, "-m", "wemd", *map(str, args)],
                          capture_output=True, text=True, timeout=180)


def test_database_styles_are_read_faithfully(cifs):
    nacl = read_cif(cifs / "1000041.cif")
    assert nacl.journal == "Inorganic Chemistry" and nacl.split == "train"
    assert nacl.cell[0, 0] == pytest.approx(5.62) and len(nacl.fractional) == 8
    alloy = read_cif(cifs / "77001.cif")
    assert alloy.journal == "Inorg. Chem." and alloy.split == "train"  # the primary citation
    assert len(alloy.fractional) == 8 and alloy.occupancies[0] == pytest.approx((0.7, 0.3))
    assert read_cif_journal(cifs / "77001.cif")[0] == "Inorg. Chem."  # wemd.load("cifs") agrees


def test_iucr_style_global_block_gives_the_journal_and_several_structures_are_refused(tmp_path):
    structure = cif_text("MgO", EXAMPLES["MgO"]).replace(
        "_journal_name_full 'Physics and Chemistry of Minerals'\n", "")
    iucr = tmp_path / "8000001.cif"
    iucr.write_text("data_global\n_journal_name_full\n;\nActa Crystallographica\nSection E\n;\n"
                    "_publ_contact_author_name 'A. Author'\n\n" + structure)
    crystal = read_cif(iucr)
    assert crystal.journal == "Acta Crystallographica Section E" and len(crystal.fractional) == 8
    assert read_cif_journal(iucr)[0] == crystal.journal  # the CIF loader reads it alike
    two = tmp_path / "8000002.cif"
    two.write_text(structure + "\n" + structure.replace("data_0000005", "data_II"))
    with pytest.raises(CIFError, match="2 data blocks, 2 with atom sites.*split the file"):
        read_cif(two)
    with pytest.raises(CorruptFileError, match="2 data blocks, 2 with atom sites"):
        read_cif_journal(two)
    (tmp_path / "8000003.cif").write_text("# comments only\n")
    with pytest.raises(CIFError, match="no data_ block"):
        read_cif(tmp_path / "8000003.cif")


@pytest.mark.parametrize("short, full", [("Inorg. Chem.", "Inorganic Chemistry"),
                                         ("Chem. Mater.", "CHEMISTRY OF MATERIALS"),
                                         ("Phys. Chem. Miner.", "Physics & Chemistry of Minerals")])
def test_the_catalog_the_cif_loader_and_simulate_share_one_journal_rule(tmp_path, short, full):
    split = catalog.journal_split(full)
    assert split != "unassigned" and catalog.journal_split(short) == split
    rule = make_split_rule(VARIANT)
    for i, journal in enumerate((short, full)):
        path = tmp_path / f"10000{i}.cif"
        path.write_text(cod_nacl(f" '{journal}'", f"10000{i}"))
        crystal = read_cif(path)
        assert crystal.split == rule(crystal) == split
        loaded_journal, _ = read_cif_journal(path)  # what wemd.load("cifs") partitions by
        assert catalog.journal_split(loaded_journal) == split


def test_one_crystal_in_two_origin_choices_is_one_structure(tmp_path):
    """COD writes diamond Si in origin choice 1, ICSD often in choice 2: one structure, one
    split under --split-by structure, and the second id a duplicate (no leak across splits)."""
    folder = tmp_path / "cifs"
    folder.mkdir()
    _, journal, formula, cell, _, _, ref = EXAMPLES["Si"]
    (folder / "0000011.cif").write_text(cif_text("Si", (
        "0000011", journal, formula, cell, "F d -3 m :1", [("Si1", "Si", 0, 0, 0, 1)], ref)))
    (folder / "0000012.cif").write_text(cif_text("Si", (
        "0000012", journal, formula, cell, "F d -3 m :2", [("Si1", "Si", 0.125, 0.125, 0.125, 1)],
        ref)))
    one, two = (read_cif(folder / f"00000{i}.cif") for i in (11, 12))
    assert not np.allclose(np.sort(one.fractional, axis=0), np.sort(two.fractional, axis=0))
    assert structure_hash(one) == structure_hash(two)
    rule = make_split_rule(VARIANT, "structure")
    assert rule(one) == rule(two)
    summary = _run(folder, tmp_path / "out", split_by="structure")
    assert sum(summary["splits"].values()) == 1
    assert "duplicate of 0000011.cif" in summary["failures"][0]["reason"]


def test_journal_and_structure_splits_on_database_cifs(cifs, tmp_path):
    summary = _run(cifs, tmp_path / "journal")
    failures = {f["cif"]: f for f in summary["failures"]}
    assert summary["splits"] == {"train": 6, "val": 2, "test": 1}  # 77002: 77001's duplicate
    assert "duplicate of 77001.cif" in failures["77002.cif"]["reason"]
    first = _run(cifs, tmp_path / "s1", split_by="structure")
    again = _run(cifs, tmp_path / "s2", split_by="structure")
    assert first["splits"] == again["splits"] and sum(first["splits"].values()) == 9

    def files(out):
        return {p.relative_to(out): p.read_bytes() for p in out.glob("*/*.npy")}
    assert files(tmp_path / "s1") == files(tmp_path / "s2")


def test_a_journal_that_is_html_control_characters_or_huge_is_cleaned_and_bounded(tmp_path):
    folder = tmp_path / "cifs"
    folder.mkdir()
    fields = {"9000001": "\n;\n<script>alert(1)</script><b>Inorg.</b> Chem.\n;",
              "9000002": "\n;\nInorg.\x1b[31m Chem.\x07\u202e\n;",
              "9000003": "\n;\n" + "Inorganic Chemistry " * 20000 + "\n;"}
    for cod_id, field in fields.items():
        (folder / f"{cod_id}.cif").write_text(cod_nacl(field, cod_id))
    html, escapes, huge = (read_cif(folder / f"{i}.cif") for i in fields)
    assert html.journal == "<script>alert(1)</script><b>Inorg.</b> Chem."  # text, never markup
    assert escapes.journal == "Inorg. [31m Chem."
    assert len(huge.journal) <= MAX_JOURNAL_CHARS
    assert {html.split, escapes.split, huge.split} == {"unassigned"}
    (folder / "0000001.cif").write_text(cif_text("Si", EXAMPLES["Si"]))
    summary = _run(folder, tmp_path / "out", split_map={"Inorg. Chem.": "train"})
    assert summary["splits"] == {"train": 1}
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())
    assert all(len(f["reason"]) < 1000 for f in failures)
    assert "\x1b" not in json.dumps(failures, ensure_ascii=False)
    assert any("add the journal to the map" in f["reason"] for f in failures)


def test_split_maps_with_path_like_and_unicode_journals_only_name_splits(tmp_path):
    folder = tmp_path / "cifs"
    folder.mkdir()
    journals = {"2000001": "../../etc/passwd", "2000002": "Журнал неорганической химии"}
    for cod_id, journal in journals.items():
        (folder / f"{cod_id}.cif").write_text(cod_nacl(f" '{journal}'", cod_id).replace(
            "5.62(1)", "5.64(1)" if cod_id.endswith("2") else "5.62(1)"))
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"../../etc/passwd": "train",
                                   "ЖУРНАЛ НЕОРГАНИЧЕСКОЙ ХИМИИ": "val"}, ensure_ascii=False))
    out = tmp_path / "out"
    summary = _run(folder, out, split_map=mapping)
    assert summary["splits"] == {"train": 1, "val": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifs", "map.json", "out"]
    manifest = json.loads((out / "wemd.json").read_text())
    assert manifest["generator"]["split_rule"]["published_partition"] is False


def test_cif_without_a_journal_is_named_so(tmp_path):
    folder = tmp_path / "cifs"
    folder.mkdir()
    (folder / "1000041.cif").write_text(cod_nacl(" ?"))
    write_example_cifs(folder, ["Si"])
    summary = _run(folder, tmp_path / "out")
    (failure,) = summary["failures"]
    assert "no journal (neither _journal_name_full nor _citation_journal_full)" in failure["reason"]


@pytest.mark.parametrize("split_by", ["journal", "structure"])
def test_unseen_variants_say_why_other_cifs_give_no_wave(tmp_path, split_by):
    paths = write_example_cifs(tmp_path / "cifs")
    summary = simulate_dataset(paths, "wavefunctions_unseen", tmp_path / "out", draws_per_cif=1,
                               protocol_overrides=QUICK, workers=1, progress=False,
                               split_by=split_by)
    reasons = [f["reason"] for f in summary["failures"]]
    assert reasons and all("draws new waves from training CIFs only" in r for r in reasons)
    assert not any("--split-by" in r for r in reasons)  # nothing to fix: the variant's rule


@pytest.mark.parametrize("args, words", [
    (["--device", "cuda"], "add --backend torch"),
    (["--grid", "-5"], "positive number of pixels"),
    (["--grid", "0"], "positive number of pixels"),
    (["--sampling", "0"], "positive pixel size"),
    (["--sampling", "nan"], "positive pixel size"),
    (["--draws", "0"], "at least 1 draw"),  # was: silently the protocol's 3
    (["--draws", "-1"], "at least 1 draw"),
])
def test_bad_cli_options_are_refused_before_any_work(cifs, tmp_path, args, words):
    out = tmp_path / "out"
    done = _wemd("simulate", "--cifs", cifs, "--variant", VARIANT, "--out", out, "--workers",
                 "1", *args)
    assert done.returncode == 1 and words in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


@pytest.mark.slow
def test_the_contract_commands_run_end_to_end(cifs, tmp_path):
    """--grid, --backend torch, simulate-check, verify and load on the database CIFs."""
    quick = ["--override", "depth_nm=[0.3,0.4]", "--override", "width_nm=[0.8,1.0]",
             "--draws", "1", "--workers", "1", "--quiet"]
    for name, extra in (("grid", ["--grid", "1024"]), ("torch", ["--backend", "torch"])):
        out = tmp_path / name
        done = _wemd("simulate", "--cifs", cifs, "--variant", VARIANT, "--out", out, *extra,
                     *quick)
        assert done.returncode == 0, done.stderr
        assert "train 6, val 2, test 1" in done.stdout
        check = _wemd("simulate-check", out)
        assert check.returncode == 0 and "9 waves" in check.stdout, check.stderr
        assert (out / "simulate-check.png").read_bytes()[:4] == b"\x89PNG"
        verify = _wemd("verify", VARIANT, "--root", out)
        assert verify.returncode == 0 and "OK" in verify.stdout, verify.stdout + verify.stderr
    import wemd

    assert wemd.load(VARIANT, split="train", root=tmp_path / "grid")[0].shape == (320, 320)
    meta = json.loads(next((tmp_path / "grid" / "train" / "meta").glob("*.json")).read_text())
    assert meta["convergence"]["standard_sampling"] is False


def test_unknown_split_in_a_map_is_refused_before_any_work(cifs, tmp_path):
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"Inorg. Chem.": "holdout"}))
    with pytest.raises(SplitRuleError, match="not a split of this variant"):
        _run(cifs, tmp_path / "out", split_map=mapping)
    assert not (tmp_path / "out").exists()


def test_pipes_devices_and_huge_files_among_the_cifs_are_failures_not_hangs(tmp_path):
    folder = tmp_path / "cifs"
    write_example_cifs(folder, ["Si"])
    os.mkfifo(folder / "pipe.cif")  # opening it would wait for a writer forever
    (folder / "zero.cif").symlink_to("/dev/zero")  # reading it would never end
    with open(folder / "huge.cif", "wb") as handle:
        handle.truncate(MAX_CIF_BYTES + 1)
    summary = _run(folder, tmp_path / "out")
    assert summary["splits"] == {"train": 1}
    reasons = {f["cif"]: f["reason"] for f in summary["failures"]}
    assert len(reasons) == 3 and "over 50,000,000 bytes" in reasons["huge.cif"]
    assert reasons["pipe.cif"] == "not a regular file (a folder, pipe or device)"
    assert "not a regular file" in reasons["zero"]  # the run names resolved paths
