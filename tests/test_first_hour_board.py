"""Issue 16, the leaderboard side of a new user's first hour: per-group scores on wemd's own
simulated waves, column sorting on a page of many tables (headless Chromium), and the command
that shows the quickstart's board."""

from __future__ import annotations

import json
import math
import shlex

import numpy as np
import pytest

from tests.synthetic_fixtures import SCALE, SEED, tiny_root  # noqa: F401
from tests.test_leaderboard_data import make_structured
from wemd.cli import main
from wemd.leaderboard import Board, render, run_baseline
from wemd.leaderboard.instances import bin_label

TASK = "phase_n3_materials"


# -- 1: per-group scores read the simulation record's hyperparameters ---------------------------

@pytest.fixture(scope="module")
def simulated_home(tmp_path_factory):
    """A data home whose ``wavefunctions`` test split was simulated by wemd itself (4 waves of
    SrTiO3, the test-journal example, with the quick protocol overrides)."""
    from wemd.simulation.examples import write_example_cifs
    from wemd.simulation.protocol import QUICK_OVERRIDES
    from wemd.simulation.runner import simulate_dataset

    home = tmp_path_factory.mktemp("simulated")
    cifs = write_example_cifs(home / "cifs", names=["SrTiO3"])
    quick = {k: list(v) if isinstance(v, tuple) else v for k, v in QUICK_OVERRIDES.items()}
    simulate_dataset(cifs, "wavefunctions", home / "wavefunctions", seed=0, draws_per_cif=4,
                     protocol_overrides=quick, workers=1, progress=False)
    return home


def test_phase_groups_come_from_simulated_hyperparameters(simulated_home, tmp_path, capsys):
    """`wemd task inputs` then `wemd evaluate` on waves `wemd simulate` wrote: every group is the
    wave's own voltage, depth bin and zone axis, none 'unknown'."""
    args = ["--root", str(simulated_home), "--n", "4", "--param", "crop=64", "--quiet"]
    inputs = tmp_path / "in.npz"
    assert main(["task", "inputs", TASK, "--out", str(inputs), *args]) == 0
    amplitude = np.load(inputs)["amplitude"]
    np.save(tmp_path / "p.npy", np.zeros(amplitude.shape + (2,), np.float32))
    capsys.readouterr()
    assert main(["evaluate", TASK, str(tmp_path / "p.npy"), "--json", *args]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    hypers = [json.loads(p.read_text())["hyperparameters"]
              for p in sorted((simulated_home / "wavefunctions" / "test" / "meta").glob("*.json"))]
    assert len(hypers) == 4
    expected = {"voltage": {f"{h['voltage_kv']:g} kV" for h in hypers},
                "depth": {bin_label(h["depth_nm"], (0, 25, 50, 75, 100, math.inf), " nm")
                          for h in hypers},
                "zone": {"[" + " ".join(map(str, h["zone_axis"])) + "]" for h in hypers}}
    assert {g: set(labels) for g, labels in groups.items()} == expected
    assert sum(d["phase_mae"]["n"] for d in groups["voltage"].values()) == 4


def test_top_level_keys_win_and_odd_hyperparameters_are_ignored():
    from wemd.leaderboard.instances import phase_groups

    record = {"voltage_kv": 80, "hyperparameters": {"voltage_kv": 300, "depth_nm": 30.0,
                                                    "zone_axis": [1, 1, 0]}}
    assert phase_groups(record) == {"voltage": "80 kV", "depth": "[25, 50) nm", "zone": "[1 1 0]"}
    assert set(phase_groups({"hyperparameters": [200, 30]}).values()) == {"unknown"}


def test_group_plot_shows_the_grouping_that_varies(simulated_home, tmp_path):
    """The board's per-group plot of simulated waves that share one depth bin is by voltage,
    not a one-point plot by depth."""
    record = run_baseline(TASK, "constant", root=simulated_home, n=4, crop=64, progress=False)
    assert len(record["groups"]["depth"]) == 1 and len(record["groups"]["voltage"]) > 1
    board = Board(tmp_path / "board")
    board.submit(record, root=simulated_home)
    plots = {p.name for p in render(tmp_path / "site", board) if p.suffix == ".png"}
    assert f"{TASK}_by_voltage.png" in plots and f"{TASK}_by_depth.png" not in plots


# -- 2: every table of the board page sorts by its own columns -----------------------------------

#: (table, column) -> [(sort value, text)] of its body cells, in page order, and the
#: localeCompare of each text with the next (the order the page's script gives text).
_COLUMN_JS = """([t, c]) => {
  const rows = Array.from(document.querySelectorAll('table.sortable')[t].tBodies[0].rows);
  const cells = rows.map(r => [r.cells[c].dataset.v || '', r.cells[c].textContent]);
  const order = cells.slice(1).map((cell, k) => cells[k][1].localeCompare(cell[1]));
  return {cells: cells, order: order, rows: rows.map(r => r.textContent)};
}"""


@pytest.fixture(scope="module")
def board_page(tmp_path_factory):
    """A rendered board: two tasks with four entries each (n = 2 and 10, so text order of 'n'
    is not its numeric order), and every task's table of the papers' numbers."""
    root = tmp_path_factory.mktemp("home")
    make_structured("wavefunctions", root, {"train": 2, "test": 2})
    board = Board(root / "board")
    for task in (TASK, "phase_n3_transforms"):
        for method in ("constant", "uniform_random"):
            for n in (2, 10):
                board.submit(run_baseline(task, method, root=root, n=n, crop=16, progress=False),
                             root=root)
    render(root / "site", board)
    return root / "site" / "index.html"


def _is_sorted(column: dict, ascending: bool) -> bool:
    """Numbers (cells with a sort value) in numeric order, then text cells in locale order."""
    sign = 1 if ascending else -1
    keys = [float(v) if v else None for v, _ in column["cells"]]
    for k, (a, b) in enumerate(zip(keys, keys[1:])):
        if a is None and b is not None:
            return False  # text ('-', blank) after every number
        if a is not None and b is not None and sign * (a - b) > 0:
            return False
        if a is None and b is None and sign * column["order"][k] > 0:
            return False
    return True


@pytest.mark.browser
@pytest.mark.slow
def test_every_header_of_every_table_sorts_its_own_rows(board_page, browser_tab):
    tab, errors = browser_tab, browser_tab.errors
    tab.goto(board_page.as_uri())
    tables = tab.locator("table.sortable")
    assert tables.count() > 10
    reordered = 0
    for t in range(tables.count()):
        headers = tables.nth(t).locator("thead th")
        for c, name in enumerate(headers.all_inner_texts()):
            before = tab.evaluate(_COLUMN_JS, [t, c])
            for ascending in (True, False):
                headers.nth(c).click()
                after = tab.evaluate(_COLUMN_JS, [t, c])
                where = f"table {t}, column {c} ({name})"
                assert not errors, f"{where}: {errors}"
                assert sorted(after["rows"]) == sorted(before["rows"]), where
                assert _is_sorted(after, ascending), f"{where}: {after['cells']}"
                reordered += after["rows"] != before["rows"]
                before = after
    assert reordered > 20  # clicks did move rows, not only find them in order


# -- 10: the quickstart says how to see its own board ---------------------------------------------

@pytest.mark.slow
def test_quickstart_prints_the_command_that_shows_its_board(tiny_root, tmp_path, monkeypatch,
                                                            capsys):
    """The printed command works from another folder, whatever the default board is."""
    from wemd.quickstart import quickstart

    lines: list[str] = []
    quickstart(tmp_path / "my quickstart", root=tiny_root, scale=SCALE, seed=SEED, n=1,
               tasks=[TASK], progress=False, echo=lines.append)
    shown = [line for line in lines if "wemd leaderboard show" in line]
    assert len(shown) == 1, lines
    argv = shlex.split(shown[0][shown[0].index("wemd leaderboard show"):])
    monkeypatch.setenv("WEMD_LEADERBOARD", str(tmp_path / "default board"))
    monkeypatch.chdir(tmp_path / "my quickstart" / "leaderboard")
    capsys.readouterr()
    assert argv[0] == "wemd" and main(argv[1:]) == 0
    out = capsys.readouterr().out
    assert "no entries yet" not in out and "(no entries yet)" not in out
    assert TASK in out and "constant" in out and "uniform_random" in out and "Synthetic" in out
