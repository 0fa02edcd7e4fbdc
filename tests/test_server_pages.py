"""The board server's pages in headless Chromium (issue 13): escaped fields, verification
badges, real / subset / synthetic kept apart, and column sorting on a page with several tables."""

import copy
import json

import numpy as np
import pytest

from tests.server_fixtures import N, PARAMS, TASK, Server, board_home, write_predictions  # noqa: F401
from tests.test_first_hour_board import _COLUMN_JS, _is_sorted
from wemd.leaderboard import Client
from wemd.leaderboard import references as refs
from wemd.leaderboard.server.interop import import_records
from wemd.leaderboard.server.scoring import SCORED, SELF_REPORTED

HOSTILE = '<img src=x onerror="window.pwned=1">&amp; "quoted"'


@pytest.fixture(scope="module")
def server(board_home, tmp_path_factory):
    """A board with three server-scored entries (one with a hostile name) and one imported
    self-reported record from synthetic data."""
    base = tmp_path_factory.mktemp("page-board")
    srv = Server(f"sqlite:///{base / 'board.sqlite'}", base / "data", board_home[0]).start()
    try:
        with Client(srv.url, token=srv.token("pages")) as c:
            for k, name in enumerate([HOSTILE, "zeta", "alpha"]):
                preds = write_predictions(base / f"{k}.npz", np.clip(board_home[1] + 0.03 * k, 0, 1))
                assert c.wait(c.submit(TASK, preds, method=name, n=N, params=PARAMS)["id"],
                              timeout=60)["status"] == "done"
            record = copy.deepcopy(c.entries(TASK)[0])
        for key in ("entry_id", "verification", "submission_id"):
            record.pop(key)
        record["method"]["name"] = "imported synthetic"
        record["data"]["provenance"] = "synthetic"
        for key in ("dataset_fingerprint", "instances_fingerprint"):
            record["data"][key] = "synthetic:" + record["data"][key].split(":")[1]
        (base / "records").mkdir()
        (base / "records" / "r.json").write_text(json.dumps(record))
        assert import_records(srv.db_url, base / "records") == (1, 0)
        yield srv
    finally:
        srv.stop()


@pytest.mark.browser
@pytest.mark.slow
def test_task_page_escapes_badges_sections_and_sorts_each_table(server, browser_tab):
    tab = browser_tab
    dialogs = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.goto(f"{server.url}/")
    assert tab.locator("table.sortable tbody tr").count() > 10
    tab.click(f"a[href='/tasks/{TASK}']")
    tab.wait_for_load_state()
    assert tab.url.endswith(f"/tasks/{TASK}")
    headings = tab.locator("h3").all_inner_texts()
    assert headings[0].startswith("Subsets") and headings[1].startswith("Synthetic")
    assert headings[2].startswith("Papers")
    tables = tab.locator("table.sortable")
    assert tables.count() == 3
    first = tables.nth(0).locator("tbody tr").all_inner_texts()
    assert any(HOSTILE in row for row in first)  # shown literally, never as markup
    assert tab.evaluate("window.pwned") is None and tab.locator("td img").count() == 0
    assert all(SCORED in row for row in first)
    assert SELF_REPORTED in tables.nth(1).inner_text()
    badges = tab.locator("td span.badge")  # levels are badges, each level its own colour
    assert set(badges.all_inner_texts()) == {SCORED, SELF_REPORTED, refs.STATUS}
    colours = {t: badges.filter(has_text=t).first.evaluate("e => getComputedStyle(e).backgroundColor")
               for t in (SCORED, SELF_REPORTED)}
    assert colours[SCORED] != colours[SELF_REPORTED]
    assert tab.evaluate("Array.from(document.images).map(i => i.naturalWidth > 0)") == [True, True]
    header = tables.nth(0).locator("thead th").all_inner_texts()
    assert _is_sorted(tab.evaluate(_COLUMN_JS, [0, header.index("mse_x1000")]), True)  # best first
    others = [tab.evaluate(_COLUMN_JS, [t, 0])["rows"] for t in (1, 2)]
    for c in (header.index("method"), header.index("mse_x1000")):
        before = tab.evaluate(_COLUMN_JS, [0, c])
        for ascending in (True, False):
            tables.nth(0).locator("thead th").nth(c).click()
            after = tab.evaluate(_COLUMN_JS, [0, c])
            assert sorted(after["rows"]) == sorted(before["rows"])
            assert _is_sorted(after, ascending), after["cells"]
            before = after
    assert [tab.evaluate(_COLUMN_JS, [t, 0])["rows"] for t in (1, 2)] == others
    assert not tab.errors and not dialogs
