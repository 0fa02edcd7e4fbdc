"""wemd quickstart and wemd synth on the tiny synthetic build: summary, baselines on a board,
leaderboard page and the example figure, all marked synthetic."""

import json
import pytest

from wemd import catalog
from wemd.cli import main
from wemd.quickstart import dataset_summary, quickstart
from wemd.viz.examples import example_figure
from wemd.synthetic import synthetic_root
from tests.synthetic_fixtures import SCALE, SEED, tiny_root  # noqa: F401

#: One task per family that is cheap at n = 1 (no scattered-data interpolation).
QUICK_TASKS = ["tem_denoise_high_dose", "stem_supersample_103", "stem_adaptive_96",
               "phase_n3_materials"]


def test_summary_covers_every_dataset_and_says_synthetic(tiny_root):
    rows = dataset_summary(synthetic_root(tiny_root, SCALE, SEED))
    assert [r["name"] for r in rows] == list(catalog.CATALOG)
    for r in rows:
        assert r["provenance"] == "synthetic" and r["fingerprint"].startswith("synthetic:")
        assert r["bytes"] > 0 and sum(r["splits"].values()) >= 1


def test_example_figure_is_a_png_with_every_dataset(tiny_root, tmp_path):
    import matplotlib.image as mpimg

    path = example_figure(synthetic_root(tiny_root, SCALE, SEED), tmp_path / "ex.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 1000
    assert pixels[..., :3].std() > 0.1  # panels drawn, not a blank canvas


@pytest.mark.slow
def test_quickstart_command_runs_baselines_onto_a_board_and_renders(tiny_root, tmp_path,
                                                                    monkeypatch, capsys):
    """``wemd quickstart`` end to end on the cached tiny data (WEMD_HOME points at it)."""
    monkeypatch.setenv("WEMD_HOME", str(tiny_root))
    out = tmp_path / "qs"
    assert main(["quickstart", "--scale", SCALE, "-n", "1", "--quiet", "--out", str(out),
                 "--tasks", *QUICK_TASKS]) == 0
    text = capsys.readouterr().out
    assert "Where everything is" in text and "synthetic" in text
    summary = json.loads((out / "quickstart.json").read_text())
    assert summary["provenance"] == "synthetic" and len(summary["datasets"]) == len(catalog.CATALOG)
    assert summary["seconds"]["data"] < 5  # the tiny build was cached: nothing rebuilt
    scores = summary["scores"]
    assert {s["task"] for s in scores} == set(QUICK_TASKS)
    assert all(s["provenance"] == "synthetic" and s["n"] == 1 for s in scores)
    entries = sorted((out / "board" / "entries").rglob("*.json"))
    assert len(entries) == len(scores)
    for path in entries:
        record = json.loads(path.read_text())
        assert record["data"]["provenance"] == "synthetic"
        assert record["data"]["dataset_fingerprint"].startswith("synthetic:")
    page = (out / "leaderboard" / "index.html").read_text()
    assert "Synthetic" in page and "tem_denoise_high_dose" in page
    assert (out / "examples.png").read_bytes()[:4] == b"\x89PNG"
    lines = []  # run again: cached data, results already on the board are reused
    again = quickstart(out, root=tiny_root, scale=SCALE, seed=SEED, n=1, tasks=QUICK_TASKS[-1:],
                       progress=False, echo=lines.append)
    assert again.scores and str(again.figure) in "\n".join(lines)
    assert sorted((out / "board" / "entries").rglob("*.json")) == entries
    first = {(s["task"], s["method"]): s["mean"] for s in scores}
    assert all(first[(s["task"], s["method"])] == s["mean"] for s in again.scores)


def test_synth_cli_writes_loadable_folders(tmp_path, capsys):
    import wemd

    assert main(["synth", "--scale", SCALE, "--only", "cifs", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "cifs" in out and "synthetic:" in out and str(tmp_path) in out
    ds = wemd.load("cifs", "val", root=tmp_path)
    assert ds.provenance == "synthetic" and len(ds) == 1
    assert main(["synth", "--scale", "small", "--only", "cifs", "--out", str(tmp_path),
                 "--quiet"]) == 1  # another scale into the same folder is refused
    assert "elsewhere" in capsys.readouterr().err
