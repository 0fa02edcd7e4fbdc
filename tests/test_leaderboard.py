"""Result records, submit checks, concurrent submits, the board's tables and pages, the CLI."""

import copy
import json
import multiprocessing

import numpy as np
import pytest

from tests.fakedata import make_dataset
from tests.test_leaderboard_data import make_structured
from wemd.cli import main
from wemd.leaderboard import (Board, DuplicateEntryError, RecordError, evaluate, get_task,
                              make_record, render, run_baseline, validate)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("home")
    make_structured("wavefunctions", root, {"test": 2})
    return root


@pytest.fixture(scope="module")
def record(root):
    return run_baseline("phase_n3_materials", "constant", root=root, n=3, crop=16, progress=False)


def test_record_matches_the_schema_and_carries_provenance(record):
    validate(record)
    assert record["data"]["provenance"] == "subset"
    assert record["data"]["instances_fingerprint"].startswith("subset:")
    assert record["data"]["n"] == 3 and record["protocol_version"] == "1"
    assert {"platform", "cpus"} <= set(record["hardware"]) and record["package_version"]
    broken = copy.deepcopy(record)
    del broken["predictions_sha256"]
    broken["data"]["provenance"] = "made-up"
    with pytest.raises(RecordError) as err:
        validate(broken)
    assert "predictions_sha256" in str(err.value) and "data/provenance" in str(err.value)


def test_learned_methods_need_three_seeds_reported_as_mean_and_std(root):
    task = get_task("phase_n3_materials", crop=16)
    ds = task.open(root=root)
    targets = np.stack([inst.target for inst in task.instances(ds, 2)])
    runs = [evaluate(task, targets * s, ds=ds, n=2, progress=False) for s in (1.0, 0.9, 0.8)]
    with pytest.raises(RecordError, match=">= 3 seeds"):
        make_record(runs[:2], "net", kind="learned", seeds=[0, 1])
    rec = make_record(runs, "net", kind="learned", seeds=[0, 1, 2], code_url="https://example.org/net")
    validate(rec)
    means = [r.metrics["phase_mae"]["mean"] for r in runs]
    assert rec["metrics"]["phase_mae"]["mean"] == pytest.approx(np.mean(means))
    assert rec["metrics"]["phase_mae"]["std"] == pytest.approx(np.std(means))
    assert [r["seed"] for r in rec["runs"]] == [0, 1, 2]
    two_runs = copy.deepcopy(rec)
    two_runs["runs"] = two_runs["runs"][:2]
    with pytest.raises(RecordError, match="runs"):
        validate(two_runs)


def test_submit_checks_fingerprints_and_refuses_duplicates(record, root, tmp_path):
    board = Board(tmp_path / "board")
    path = board.submit(record, root=root)
    assert path.is_file() and json.loads(path.read_text())["task"] == "phase_n3_materials"
    with pytest.raises(DuplicateEntryError):
        board.submit(record, root=root)
    tampered = copy.deepcopy(record)
    tampered["data"]["n"] = 4  # claims more instances than were scored
    with pytest.raises(RecordError, match="instance fingerprint"):
        board.submit(tampered, root=root)
    other = tmp_path / "other"
    make_dataset("wavefunctions", other, counts={"test": 2}, provenance="synthetic")
    with pytest.raises(RecordError, match="dataset fingerprint"):
        board.submit(record, root=other)
    old = copy.deepcopy(record)
    old["protocol_version"] = "0"
    with pytest.raises(RecordError, match="protocol"):
        board.submit(old, root=root)
    assert len(board.entries()) == 1 and not list(board.path.rglob("*.part"))


def _submit_many(args):
    path, record, k = args
    board = Board(path)
    stored = 0
    for j in range(4):
        rec = copy.deepcopy(record)
        rec["method"]["name"] = f"m{k}-{j}"
        board.submit(rec, check=False)
        stored += 1
    try:
        board.submit(record, check=False)  # every process races for the same entry
        stored += 1
    except DuplicateEntryError:
        pass
    return stored


def test_parallel_submits_from_processes_lose_nothing(record, tmp_path):
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ctx.Pool(4) as pool:
        stored = pool.map(_submit_many, [(tmp_path / "b", record, k) for k in range(8)])
    entries = Board(tmp_path / "b").entries("phase_n3_materials")
    assert sum(stored) == len(entries) == 8 * 4 + 1
    assert len({e["method"]["name"] for e in entries}) == 33


def test_board_table_and_pages_keep_sections_apart(record, root, tmp_path):
    board = Board(tmp_path / "board")
    board.submit(record, root=root)
    synth_root = tmp_path / "synth"
    make_structured("wavefunctions", synth_root, {"test": 2})
    manifest = json.loads((synth_root / "wavefunctions" / "wemd.json").read_text())
    manifest["provenance"] = "synthetic"
    (synth_root / "wavefunctions" / "wemd.json").write_text(json.dumps(manifest))
    synth = run_baseline("phase_n3_materials", "uniform_random", root=synth_root, n=2, crop=16,
                         progress=False)
    board.submit(synth, root=synth_root)
    table = board.table("phase_n3_materials")
    assert table.index("Subsets of the real data") < table.index("Synthetic") < table.index(
        "reported, not reproduced")
    assert "0.614" in table and "constant †" in table
    written = render(tmp_path / "site", board)
    html = (tmp_path / "site" / "index.html").read_text()
    md = (tmp_path / "site" / "index.md").read_text()
    assert "sortable" in html and "reported, not reproduced" in html and "Synthetic" in html
    assert "## phase_n3_materials" in md and "| uniform_random † |" in md
    pngs = [p for p in written if p.suffix == ".png"]
    assert any(p.name == "phase_n3_materials.png" for p in pngs)
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_cli_baseline_submit_show_render(root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    board = str(tmp_path / "cli_board")
    args = ["--root", str(root), "--n", "2", "--param", "crop=16", "--quiet"]
    assert main(["baseline", "run", "phase_n3_materials", "constant", *args, "--out", "r.json"]) == 0
    assert main(["leaderboard", "submit", "r.json", "--root", str(root), "--board", board]) == 0
    assert main(["leaderboard", "submit", "r.json", "--root", str(root), "--board", board]) == 1
    assert main(["leaderboard", "show", "phase_n3_materials", "--board", board]) == 0
    assert main(["leaderboard", "render", str(tmp_path / "site"), "--board", board]) == 0
    assert main(["task", "inputs", "phase_n3_materials", "--out", "in.npz", *args]) == 0
    inputs = np.load(tmp_path / "in.npz")
    np.save(tmp_path / "p.npy", np.zeros(inputs["amplitude"].shape + (2,), np.float32))
    assert main(["evaluate", "phase_n3_materials", "p.npy", *args]) == 0
    assert main(["evaluate", "phase_n3_materials", "p.npy", "--root", str(root), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert "already on the board" in err and "Got 2 predictions but the task has 19992" in err
    assert "constant †" in out and "phase_mae" in out and (tmp_path / "site" / "index.html").is_file()
    assert main(["tasks"]) == 0 and "stem_complete_spiral_87_0" in capsys.readouterr().out
