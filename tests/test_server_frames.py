"""pandas frames of boards and evaluation results (issue 14, leaderboard part): one typed row
per entry or per group label, and the terminal tables printed from them."""

import numpy as np
import pandas as pd
import pytest

from tests.server_fixtures import N, PARAMS, TASK, board_home  # noqa: F401
from wemd.leaderboard import Board, evaluate, make_record
from wemd.leaderboard.board import RecordsBoard
from wemd.quickstart import format_summary


@pytest.fixture(scope="module")
def results(board_home):
    root, targets = board_home
    out = []
    for k, scale in enumerate((1.0, 0.8)):
        preds = {"predictions": np.clip(targets * scale, 0, 1).astype(np.float32)}
        out.append(evaluate(TASK, preds, root=root, n=N, progress=False, **PARAMS))
    return out


def test_evaluation_result_frame_has_overall_and_group_rows(results):
    res = results[1]
    frame = res.to_frame()
    assert list(frame.columns[:3]) == ["group", "label", "n"]
    assert frame.loc[0, "group"] == "all" and frame.loc[0, "n"] == res.n == N
    assert frame.dtypes["n"] == np.int64 and frame.dtypes["mse_x1000_se"] == np.float64
    assert frame.loc[0, "ssim"] == pytest.approx(res.metrics["ssim"]["mean"])
    groups = frame[frame["group"] != "all"]
    assert len(groups) == sum(len(labels) for labels in res.groups.values()) > 0
    for row in groups.itertuples():
        assert row.mse_x1000 == pytest.approx(res.groups[row.group][row.label]["mse_x1000"]["mean"])
    assert groups.groupby("group")["n"].sum().eq(N).all()  # every instance in one label


def test_board_frame_is_typed_one_row_per_entry_and_drives_the_table(results, board_home, tmp_path):
    board = Board(tmp_path / "board")
    for k, res in enumerate(results):
        board.submit(make_record(res, f"method {k}"), root=board_home[0])
    frame = board.to_frame(TASK)
    assert len(frame) == 2 and set(frame["method"]) == {"method 0", "method 1"}
    assert frame.dtypes["n"] == np.int64 and frame.dtypes["standard"] == bool
    assert isinstance(frame.dtypes["date"], pd.DatetimeTZDtype)
    assert frame.dtypes["mse_x1000"] == np.float64 and (frame["section"] == "subset").all()
    assert (frame["verification"] == "").all()  # a folder's own records carry no level
    table = board.table(TASK)
    assert table.index("method 0") < table.index("method 1")  # best (lowest mse) first
    assert "verification" not in table
    served = RecordsBoard([r | {"verification": "predictions scored on server"}
                           for r in board.entries(TASK)], "http://board")
    assert "predictions scored on server" in served.table(TASK)
    empty = Board(tmp_path / "empty").to_frame(TASK)
    assert empty.empty and empty.dtypes["n"] == np.int64
    assert "(no entries yet)" in Board(tmp_path / "empty").table(TASK)


def test_quickstart_summary_prints_from_a_frame():
    text = format_summary([{"name": "tem_full", "provenance": "synthetic", "item_shape": [64, 64],
                            "splits": {"train": 3, "val": 1, "test": 2}, "bytes": 2.5e6,
                            "fingerprint": "synthetic:" + "ab" * 32}])
    header, row = text.splitlines()
    assert header.split()[:2] == ["dataset", "provenance"]
    assert row.split()[:5] == ["tem_full", "synthetic", "3/1/2", "64x64", "2.5"]


def test_fewer_instances_than_the_protocol_are_flagged_non_standard(results, tmp_path):
    """--n below the protocol's count is allowed and shown with a dagger, like changed
    parameters; the protocol's own parameters at its full count are not flagged."""
    from wemd.leaderboard import render
    from wemd.leaderboard.board import is_standard

    rec = make_record(results[0], "short run")
    full = dict(rec, data=dict(rec["data"], standard=True, n=20000))
    short = dict(rec, data=dict(rec["data"], standard=True, n=N))
    assert is_standard(full) and not is_standard(short) and not is_standard(rec)
    board = RecordsBoard([short], "http://board")
    assert not board.to_frame(TASK)["standard"].any()
    table = board.table(TASK)
    assert "short run †" in table and "fewer instances" in table
    page = next(p for p in render(tmp_path / "out", board) if p.suffix == ".html").read_text()
    assert "short run †" in page and "fewer instances" in page
