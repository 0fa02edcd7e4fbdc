"""Splits for anyone's CIFs: journal spellings, a user's journal map, a structure hash."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wemd.catalog import journal_split
from wemd.errors import WEMDError
from wemd.journals import journal_key
from wemd.simulation.check import check_run
from wemd.simulation.cif import read_cif
from wemd.simulation.examples import EXAMPLES, cif_text, write_example_cifs
from wemd.simulation.protocol import QUICK_OVERRIDES
from wemd.simulation.runner import SimulationRunError, load_crystals, simulate_dataset
from wemd.simulation.splits import SplitRuleError, make_split_rule

VARIANT = "wavefunctions_restricted"  # train, val and test
QUICK = {**QUICK_OVERRIDES, "depth_nm": (0.3, 0.4)}
#: The structure rule's split of each example structure: fixed by the SHA-256 of the structure,
#: so it must be the same on every machine and in every version that keeps the hash.
STRUCTURE_SPLITS = {"0000001": "train", "0000002": "train", "0000003": "train", "0000004": "train",
                    "0000005": "test", "0000006": "val", "0000007": "test"}


def _entry(base: str, journal: str, cod_id: str) -> tuple:
    _, _, formula, cell, group, sites, ref = EXAMPLES[base]
    return (cod_id, journal, formula, cell, group, sites, ref)


def _foreign_cifs(folder, journals=("Acta Cryst. E", "Z. Kristallogr.", "J. Solid State Chem.")):
    """Real-database-style CIFs from journals outside WEMD's table."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for (base, journal), cod_id in zip(zip(("Si", "MgO", "GaAs"), journals),
                                       ("2000001", "2000002", "2000003")):
        path = folder / f"{cod_id}.cif"
        path.write_text(cif_text(base, _entry(base, journal, cod_id)))
        paths.append(path)
    return paths


def _run(cifs, out, **kwargs):
    return simulate_dataset(cifs, VARIANT, out, protocol_overrides=QUICK, draws_per_cif=1,
                            workers=1, progress=False, **kwargs)


@pytest.mark.parametrize("a, b", [
    ("Acta Cryst. B", "Acta Crystallographica Section B"),
    ("ACTA CRYSTALLOGRAPHICA, Section B: Structural Science", "Acta Cryst B"),
    ("J. Am. Chem. Soc.", "Journal of the American Chemical Society"),
    ("Inorg. Chem.", "Inorganic   Chemistry"),
    ("Phys. Chem. Miner.", "Physics & Chemistry of Minerals"),
    ("Am. Mineral.", "American Mineralogist"),
])
def test_journal_spellings_are_one_journal(a, b):
    assert journal_key(a) == journal_key(b) != ""


def test_similar_journals_stay_apart():
    assert journal_key("Physics and Chemistry of Minerals") != journal_key(
        "Physics and Chemistry of Materials")
    assert journal_key("Acta Cryst. B") != journal_key("Acta Cryst. C")
    assert journal_split("Chem. Mater.") == "test"
    assert journal_split("Phys. Chem. Miner.") == "val"
    assert journal_split("Acta Cryst. B") == "unassigned"


def test_citation_journal_is_read_when_the_journal_tag_is_missing(tmp_path):
    text = cif_text("Si", EXAMPLES["Si"]).replace(
        "_journal_name_full 'Inorganic Chemistry'\n",
        "loop_\n_citation_id\n_citation_journal_full\nprimary\n;\nJournal of the\n"
        "   American Chemical\nSociety\n;\n")
    (tmp_path / "si.cif").write_text(text)
    crystal = read_cif(tmp_path / "si.cif")
    assert crystal.journal == "Journal of the American Chemical Society"
    assert crystal.split == "train"


def test_foreign_journals_fail_with_an_error_naming_the_cli_options(tmp_path):
    cifs = _foreign_cifs(tmp_path / "cifs")
    with pytest.raises(SimulationRunError) as err:
        _run(cifs, tmp_path / "out")
    message = str(err.value)
    assert "--split-by structure" in message and "--split-map" in message
    assert "split_of" not in message and "Acta Cryst. E" in message
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())
    assert all("--split-map" in f["reason"] for f in failures if f["stage"] == "partition")


def test_structure_split_is_fixed_by_the_structure(tmp_path):
    paths = write_example_cifs(tmp_path / "cifs")
    rule = make_split_rule(VARIANT, "structure")
    good, _ = load_crystals(paths, rule)
    assert {c.name: c.split for _, c in good} == STRUCTURE_SPLITS
    # the same structure under another id and journal gets the same split, and is one item
    dup = tmp_path / "cifs" / "9000001.cif"
    dup.write_text(cif_text("Au", _entry("Au", "Acta Cryst. E", "9000001")))
    assert rule(read_cif(dup)) == rule(read_cif(paths[2])) == STRUCTURE_SPLITS["0000003"]
    good, failures = load_crystals(paths + [dup], rule)
    assert len(good) == len(paths) and any("duplicate" in f["reason"] for f in failures)


def test_cli_structure_split_is_recorded_and_never_passes_for_the_published_one(tmp_path):
    cifs = _foreign_cifs(tmp_path / "cifs")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "wemd", "simulate", "--cifs", str(tmp_path / "cifs"),
           "--variant", VARIANT, "--out", str(out), "--split-by", "structure", "--workers", "1",
           "--draws", "1", "--quiet", "--override", "grid=320", "--override", "depth_nm=[0.3,0.4]",
           "--override", "width_nm=[0.8,1]"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rule = make_split_rule(VARIANT, "structure")
    expected = {c.name: c.split for _, c in load_crystals(cifs, rule)[0]}
    manifest = json.loads((out / "wemd.json").read_text())
    record = manifest["generator"]["split_rule"]
    assert record["by"] == "structure" and record["published_partition"] is False
    assert "custom split, not WEMD's" in manifest["description"]
    metas = [json.loads(p.read_text()) for p in out.glob("*/meta/*.json")]
    assert {m["cif"]: m["split"] for m in metas} == expected
    assert all(m["split_rule"]["by"] == "structure" for m in metas)


def test_published_rule_is_recorded_as_published(tmp_path):
    _run(write_example_cifs(tmp_path / "cifs", ["Si", "MgO"]), tmp_path / "out")
    record = json.loads((tmp_path / "out" / "wemd.json").read_text())["generator"]["split_rule"]
    assert record["by"] == "journal" and record["published_partition"] is True
    assert record["map"][journal_key("Inorganic Chemistry")] == "train"


def test_a_split_map_assigns_foreign_journals(tmp_path):
    cifs = _foreign_cifs(tmp_path / "cifs")
    mapping = tmp_path / "journals.json"
    mapping.write_text(json.dumps({"Acta Crystallographica Section E": "train",
                                   "Zeitschrift fur Kristallographie": "val",
                                   "Journal of Solid State Chemistry": "test"}))
    summary = _run(cifs, tmp_path / "out", split_map=mapping)
    assert summary["splits"] == {"train": 1, "val": 1, "test": 1}
    meta = json.loads(next((tmp_path / "out" / "val" / "meta").glob("*.json")).read_text())
    assert meta["cif"] == "2000002" and meta["split_rule"]["published_partition"] is False
    assert "journals.json sha256:" in meta["split_rule"]["map_source"]


def test_a_large_map_is_in_the_manifest_once_and_each_wave_keeps_its_entry(tmp_path):
    """A map near the size limit, in Cyrillic (6 bytes per letter once JSON-escaped), written
    with a BOM: every wave would carry megabytes if each recorded the whole map."""
    cifs = _foreign_cifs(tmp_path / "cifs")
    journals = {f"Журнал кристаллографии номер {i}": "val" for i in range(12000)}
    journals.update({"Acta Cryst. E": "train", "Z. Kristallogr.": "val",
                     "J. Solid State Chem.": "test"})
    mapping = tmp_path / "map.json"
    mapping.write_bytes(b"\xef\xbb\xbf" + json.dumps(journals, ensure_ascii=False).encode())
    assert 500_000 < mapping.stat().st_size < 1_000_000
    out = tmp_path / "out"
    assert _run(cifs, out, split_map=mapping)["splits"] == {"train": 1, "val": 1, "test": 1}
    record = json.loads((out / "wemd.json").read_text())["generator"]["split_rule"]
    assert len(record["map"]) == len(journals)
    for meta_path in out.glob("*/meta/*.json"):
        assert meta_path.stat().st_size < 20_000
        rule = json.loads(meta_path.read_text())["split_rule"]
        assert rule["map_sha256"] == record["map_sha256"]
        assert list(rule["map"].values()) == [json.loads(meta_path.read_text())["split"]]
    assert check_run(out).skipped == []


@pytest.mark.parametrize("content, words", [
    ('{"Acta Cryst. E": "training"}', "not a split of this variant"),
    ('{"Acta Cryst. E": "train", "ACTA CRYSTALLOGRAPHICA SECTION E": "test"}', "name one journal"),
    ('["Acta Cryst. E"]', "JSON object"),
    ('{"Acta Cryst. E": "train"', "not JSON"),
    ('{"": "train"}', "not a journal name"),
    ('{"Acta": {"x": 1}}', "not a split"),
])
def test_bad_split_maps_are_refused_before_any_work(tmp_path, content, words):
    cifs = _foreign_cifs(tmp_path / "cifs")
    mapping = tmp_path / "map.json"
    mapping.write_text(content)
    out = tmp_path / "out"
    with pytest.raises(WEMDError, match=words) as err:
        _run(cifs, out, split_map=mapping)
    assert isinstance(err.value, SplitRuleError) and "--split-map" in str(err.value)
    assert not out.exists()  # nothing was written: refused before any work


def test_oversized_and_missing_split_maps_are_refused(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b"{" + b" " * 1_000_001 + b"}")
    with pytest.raises(SplitRuleError, match="byte limit"):
        make_split_rule(VARIANT, "journal", big)
    with pytest.raises(SplitRuleError, match="cannot read"):
        make_split_rule(VARIANT, "journal", tmp_path / "absent.json")
    with pytest.raises(SplitRuleError, match="byte limit"):  # endless: read up to the limit
        make_split_rule(VARIANT, "journal", "/dev/zero")
    with pytest.raises(SplitRuleError, match="cannot read"):
        make_split_rule(VARIANT, "journal", tmp_path)  # a folder
    with pytest.raises(SplitRuleError, match="cannot be combined"):
        make_split_rule(VARIANT, "structure", big)
