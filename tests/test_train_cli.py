"""The `wemd train` and `wemd alrc-study` commands over fake data in the real layout."""

import json

import pytest

torch = pytest.importorskip("torch")

from tests.test_alrc_study import make_structured  # noqa: E402
from wemd.cli import main  # noqa: E402


@pytest.mark.slow
def test_train_command_writes_record_and_prints_mean_std(home, tmp_path, capsys):
    make_structured("stem_crops_96x96", home, {"train": 10, "val": 3, "test": 2})
    out = tmp_path / "run"
    rc = main(["train", "stem_adaptive_96", "--steps", "2", "--batch-size", "1", "--width", "4",
               "--train-crop", "0", "--out", str(out), "--threads", "1", "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "NOTE: subset data" in text and "mse:" in text and "+-" in text
    record = json.loads((out / "record.json").read_text())
    assert record["method"]["parameters"]["steps"] == 2 and len(record["runs"]) == 3
    # one seed alone trains and scores but writes no learned record
    rc = main(["train", "stem_adaptive_96", "--steps", "2", "--batch-size", "1", "--width", "4",
               "--train-crop", "0", "--out", str(tmp_path / "one"), "--seeds", "5", "--quiet"])
    assert rc == 0
    assert "needs >= 3 seeds" in capsys.readouterr().out
    assert not (tmp_path / "one" / "record.json").exists()


def test_train_command_errors_are_one_line(home, tmp_path, capsys):
    assert main(["train", "stem_adaptiv_96", "--out", str(tmp_path)]) == 1
    assert "Did you mean 'stem_adaptive_96'" in capsys.readouterr().err
    assert main(["train", "stem_adaptive_96", "--param", "crop", "--out", str(tmp_path)]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err


def test_alrc_study_command(home, tmp_path, capsys):
    make_structured("stem_96x96", home, {"train": 6, "val": 2, "test": 1})
    out = tmp_path / "alrc.md"
    rc = main(["baseline", "alrc-study", "--out", str(out), "--source", "local", "--losses", "quartic",
               "--batch-sizes", "1", "--thresholds", "3", "none", "--repeats", "1", "--steps", "3",
               "--quiet"])
    assert rc == 0
    assert "## Quartic errors" in capsys.readouterr().out
    assert out.with_suffix(".png").exists()
    assert main(["alrc-study", "--out", str(out), "--thresholds", "x"]) == 1
