"""The command line in a new user's first hour (issue 16, items 4, 5, 6 and 11).

Item 4: every command that reads data takes the same ``--source/--root/--scale/--synth-seed``
options; ``--source synthetic`` finds (or builds, where the command reads items) the synthetic
build of that scale and seed; board commands narrow the board to one source.
"""

import argparse
import json
import subprocess
import sys

import pytest

import wemd
from tests.fakedata import make_dataset
from wemd.cli import build_parser, main

SYNTH = ["--source", "synthetic", "--scale", "tiny"]
#: Every command that reads a dataset, and the board commands (which read no data: no --root).
DATA_COMMANDS = [("verify",), ("path",), ("info",), ("mirror", "build"), ("export-hf",),
                 ("publish",), ("tasks",), ("task", "inputs"), ("evaluate",), ("baseline", "run"),
                 ("leaderboard", "submit"), ("train",), ("alrc-study",), ("baseline", "alrc-study"),
                 ("map",), ("explore",), ("search",)]
BOARD_COMMANDS = [("leaderboard", "show"), ("leaderboard", "render")]


@pytest.fixture(scope="module")
def synth_home(tmp_path_factory):
    """A data home whose tiny synthetic build (seed 0) holds the TEM datasets only."""
    from wemd.synthetic import build

    root = tmp_path_factory.mktemp("synth-home")
    build(["tem_full", "tem_96x96"], root=root, scale="tiny", seed=0, workers=2, progress=False)
    return root


def _parser(*path: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {o: a for a in parser._actions for o in a.option_strings}


# ----------------------------------------------------------------------------- item 4: options

def test_every_data_command_takes_the_same_data_options():
    from wemd.synthetic.builder import SCALES

    reference = _options(_parser("verify"))
    for path in DATA_COMMANDS + BOARD_COMMANDS:
        opts = _options(_parser(*path))
        wanted = ("--source", "--scale", "--synth-seed") + (("--root",) if path in DATA_COMMANDS else ())
        for flag in wanted:
            assert flag in opts, f"`wemd {' '.join(path)}` lacks {flag}"
            if flag != "--source":  # its default and choices differ by command
                assert opts[flag].help == reference[flag].help, (path, flag)
        assert "synthetic" in opts["--source"].choices, path
        assert list(opts["--scale"].choices) == list(SCALES), path


def test_building_the_parser_imports_no_synthetic_build():
    code = ("import sys, wemd.cli; wemd.cli.build_parser(); "
            "sys.exit('wemd.synthetic' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_cli_defaults_are_the_synthetic_sources_defaults():
    import inspect

    from wemd.cli._args import DEFAULT_SCALE, DEFAULT_SYNTH_SEED
    from wemd.synthetic import load_synthetic

    params = inspect.signature(load_synthetic).parameters
    assert (params["scale"].default, params["seed"].default) == (DEFAULT_SCALE, DEFAULT_SYNTH_SEED)


def test_scale_without_the_synthetic_source_is_refused(home, capsys):
    assert main(["path", "stem_crops", "--scale", "tiny"]) == 1
    assert "--source synthetic" in capsys.readouterr().err


# ------------------------------------------------------------- item 4: commands that take a root

def test_path_info_and_verify_find_the_synthetic_build(synth_home, capsys):
    where = synth_home / "synthetic" / "tiny-0" / "tem_96x96"
    root = ["--root", str(synth_home)]
    assert main(["path", "tem_96x96", *SYNTH, *root]) == 0
    assert capsys.readouterr().out.strip() == str(where)
    assert main(["path", "tem_96x96", *SYNTH, "--synth-seed", "2", *root]) == 0
    assert capsys.readouterr().out.strip() == str(synth_home / "synthetic" / "tiny-2" / "tem_96x96")
    assert main(["info", "tem_96x96", *SYNTH, *root, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["expected_at"] == str(where)
    assert main(["verify", "tem_96x96", *SYNTH, *root]) == 0
    out = capsys.readouterr().out
    assert f"synthetic data at {where}" in out and "OK: no problems found" in out
    # verify never builds: it names the command that does
    assert main(["verify", "stem_crops", *SYNTH, *root]) == 1
    err = capsys.readouterr().err
    assert "wemd synth --scale tiny --seed 0 --only stem_crops" in err
    assert not (synth_home / "synthetic" / "tiny-0" / "stem_crops").exists()


def test_mirror_and_publish_read_the_synthetic_build(synth_home, tmp_path, monkeypatch, capsys):
    pytest.importorskip("datasets")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    root = ["--root", str(synth_home)]
    assert main(["mirror", "build", "tem_96x96", str(tmp_path / "m"), *SYNTH, *root,
                 "--no-progress"]) == 0
    listing = json.loads((tmp_path / "m" / "tem_96x96" / "mirror.json").read_text())
    assert listing["provenance"] == "synthetic"
    assert main(["publish", "tem_96x96", "--repo", "org/x", "--dry-run", *SYNTH, *root,
                 "--no-progress"]) == 0
    assert "would upload" in capsys.readouterr().out
    assert main(["export-hf", "tem_96x96", str(tmp_path / "e"), *SYNTH, *root, "--no-progress"]) == 0
    exported = wemd.load("tem_96x96", "test", source="hf", repo=tmp_path / "e")
    built = wemd.load("tem_96x96", "test", source="synthetic", scale="tiny", root=synth_home)
    assert exported.fingerprint() == built.fingerprint()


# ------------------------------------------------------ item 4: scored commands and the board

def test_records_name_the_synthetic_build_and_resubmit_without_flags(synth_home, tmp_path, capsys):
    root, board = ["--root", str(synth_home)], ["--board", str(tmp_path / "board")]
    rec = tmp_path / "rec.json"
    assert main(["baseline", "run", "tem_denoise_high_dose", "gaussian", *SYNTH, *root, "--n", "1",
                 "--quiet", "--out", str(rec)]) == 0
    data = json.loads(rec.read_text())["data"]
    assert data["source"] == "synthetic:tiny-0" and data["provenance"] == "synthetic"
    # the record says which build it was scored on: the fingerprint check re-opens exactly it
    assert main(["leaderboard", "submit", str(rec), *root, *board]) == 0
    assert "submitted:" in capsys.readouterr().out


def test_load_reads_a_synthetic_build_spelled_in_the_source(synth_home):
    spelled = wemd.load("tem_96x96", "test", source="synthetic:tiny-0", root=synth_home)
    given = wemd.load("tem_96x96", "test", source="synthetic", scale="tiny", root=synth_home)
    assert spelled.fingerprint() == given.fingerprint() and spelled.provenance == "synthetic"
    with pytest.raises(ValueError, match="synthetic:SCALE-SEED"):
        wemd.load("tem_96x96", "test", source="synthetic:tiny")


def test_board_commands_narrow_the_board_to_one_source(synth_home, home, tmp_path, capsys):
    board = ["--board", str(tmp_path / "board")]
    make_dataset("tem_full", home)  # a local subset
    task = "tem_denoise_high_dose"  # low dose: its inf dose bin fails record validation
    assert main(["baseline", "run", task, "median", "--n", "1", "--quiet", "--submit", *board,
                 "--out", str(tmp_path / "local.json")]) == 0
    assert main(["baseline", "run", task, "gaussian", *SYNTH, "--root", str(synth_home), "--n",
                 "1", "--quiet", "--submit", *board, "--out", str(tmp_path / "synth.json")]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "show", task, "--source", "synthetic", *board]) == 0
    out = capsys.readouterr().out
    assert "== Synthetic" in out and "== Subsets" not in out
    assert main(["leaderboard", "show", task, "--source", "local", *board]) == 0
    out = capsys.readouterr().out
    assert "== Subsets" in out and "== Synthetic" not in out
    assert main(["leaderboard", "show", "--source", "synthetic", "--scale", "small", *board]) == 0
    out = capsys.readouterr().out
    assert "no entries from synthetic (scale small, seed 0)" in out and "drop --source" in out
    site = tmp_path / "site"
    assert main(["leaderboard", "render", str(site), *SYNTH, *board]) == 0
    page = (site / "index.html").read_text()
    assert "gaussian" in page and "median" not in page.split("Papers")[0]


def test_tasks_show_which_tasks_the_chosen_data_can_run(synth_home, capsys):
    assert main(["tasks", *SYNTH, "--root", str(synth_home)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "ready" in lines["tem_denoise_low_dose"]
    assert "missing" in lines["stem_complete_spiral_17_9"]
    assert any("wemd synth --scale tiny --seed 0 --only" in line and "stem_crops" in line
               for line in lines.values())
    assert main(["tasks", *SYNTH, "--root", str(synth_home), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["tem_denoise_low_dose"]["data"]["ready"] is True
    assert info["phase_n3_materials"]["data"]["ready"] is False


# ------------------------------------------------------------------------------------ item 5

def test_val_fold_on_the_test_split_says_it_moves_train_and_val_only(home):
    make_dataset("stem_96x96", home, {"train": 6, "val": 2, "test": 3})
    with pytest.raises(wemd.UnknownSplitError) as err:
        wemd.load("stem_96x96", "test", val_fold=0)
    text = str(err.value)
    assert "val_fold" in text and "train" in text and "val" in text
    assert "has no split" not in text


# ------------------------------------------------------------------------------------ item 6

def test_publish_dry_run_needs_no_token(home, monkeypatch, capsys):
    pytest.importorskip("datasets")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    make_dataset("tem_96x96", home)
    assert main(["publish", "tem_96x96", "--repo", "org/wemd-tem", "--dry-run", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "would upload" in out and "temporary export" in out
    assert main(["publish", "tem_96x96", "--repo", "org/wemd-tem", "--no-progress"]) == 1
    assert "HF_TOKEN" in capsys.readouterr().err  # a real upload still asks for it, first


# ----------------------------------------------------------------------------------- item 11

def test_verify_without_data_names_the_folder_and_the_fix(home, capsys):
    assert main(["verify", "stem_crops"]) == 1
    out = capsys.readouterr().out
    assert "None" not in out and "unknown" not in out
    assert str(home / "stem_crops") in out and "wemd download stem_crops" in out
    assert "--source synthetic" in out


def test_train_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: 1000)", "(default: 8)", "(default: 0.001)", "(default: 16)",
                  "(default: 3.0)", "(default: cpu)"):
        assert shown in text, shown
    assert "(default: None)" not in text and "(default: False)" not in text
