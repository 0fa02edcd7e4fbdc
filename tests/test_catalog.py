"""The catalog is the single source of truth; cards and CLI agree with it."""

from pathlib import Path

import pytest
import yaml

from wemd import catalog
from wemd.cards import render
from wemd.cli import main
from wemd.loaders.layouts import INDEXERS

CARDS = Path(__file__).resolve().parents[1] / "data_cards"


def test_published_facts():
    c = catalog.CATALOG
    assert c["stem_full"].total == 19769 and c["stem_crops"].total == 161069
    assert c["tem_full"].total == 17267 and 17266 in c["tem_full"].accepted_totals
    assert c["wavefunctions"].total == 36324 and c["wavefunctions_n1"].total == 37457
    assert c["wavefunctions_single"].split_names == ("train", "val")
    assert c["cifs"].total == 12782 and 12789 in c["cifs"].accepted_totals
    assert c["stem_crops"].split_range("test") == (132192, 161069)


def test_every_dataset_has_a_reader_for_each_layout():
    for spec in catalog.CATALOG.values():
        assert spec.layouts and set(spec.layouts) <= set(INDEXERS)


@pytest.mark.parametrize("name", list(catalog.CATALOG))
def test_card_matches_catalog(name):
    spec = catalog.get(name)
    text = (CARDS / f"{name}.md").read_text()
    assert text == render(spec), "data card out of date: run `wemd cards --out data_cards`"
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["wemd"]["splits"] == spec.splits and meta["license"] == "cc-by-4.0"


def test_no_stray_cards():
    assert {p.stem for p in CARDS.glob("*.md")} == set(catalog.CATALOG)


def test_journal_partition():
    assert catalog.journal_split("Chemistry of Materials") == "test"
    assert catalog.journal_split("Physics and Chemistry of Minerals") == "val"
    assert catalog.journal_split("Inorg. Chem.") == "train"  # any spelling: wemd.journals
    assert catalog.journal_split("Acta Cryst. B") == "unassigned"
    assert catalog.journal_split("Journal of the American Chemical Society") == "train"


def test_cli_list_info_path(home, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in catalog.CATALOG)
    assert main(["info", "tem_96x96"]) == 0
    assert "17266" in capsys.readouterr().out
    assert main(["path", "stem_crops"]) == 0
    assert capsys.readouterr().out.strip() == str(home / "stem_crops")
    assert main(["info", "stem_crop"]) == 1
    assert "Did you mean 'stem_crops'" in capsys.readouterr().err
