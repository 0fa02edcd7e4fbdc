"""Hostile and careless result records: every case the board once broke on (issue 12).

Records are real JSON files or real boards on disk; only the record fields are made hostile.
"""

import copy
import json
import math
import re

import pytest

from tests.test_leaderboard_data import make_structured
from wemd.cli import main
from wemd.errors import WEMDError
from wemd.files import UnsafeNameError
from wemd.leaderboard import Board, RecordError, read_record, render, run_baseline, validate
from wemd.leaderboard.board import entry_id

TASK = "phase_n3_materials"


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    root = tmp_path_factory.mktemp("home")
    make_structured("wavefunctions", root, {"test": 2})
    return run_baseline(TASK, "constant", root=root, n=3, crop=16, progress=False)


def _named(record, name, **changes):
    rec = copy.deepcopy(record)
    rec["method"]["name"] = name
    for key, value in changes.items():
        rec[key] = value
    return rec


def _store(board, rec, text=None, folder=TASK):
    """Write an entry file directly, as someone editing the board folder would."""
    path = board.path / "entries" / folder / f"{entry_id(rec)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec) if text is None else text)
    return path


# -- 6: every rendered format escapes record fields --------------------------------------------

EVIL = ("evil<script>alert(1)</script> [x](http://e.vil) ![i](x.png) *b* _i_ __u__ `c` | $x$ "
        "www.e.vil a@b.co ~~s~~ <http://e.vil> \\ &amp; :smile: a_b")


def _inert(cell):
    """A Markdown cell with its escapes and entities removed may hold no ASCII punctuation but
    '_' between two letters or digits (which CommonMark never reads as emphasis)."""
    rest = re.sub(r"\\[!-/:-@\[-`{-~]|&(?:lt|gt|amp);", "", cell)
    return re.search(r"[!-/:-@\[-^`{-~]|(?<![^\W_])_|_(?![^\W_])", rest) is None


def test_markdown_and_html_pages_escape_record_fields(record, tmp_path):
    board = Board(tmp_path / "board")
    board.submit(_named(record, EVIL, date="<img src=x onerror=alert(1)>"), check=False)
    render(tmp_path / "site", board)
    md = (tmp_path / "site" / "index.md").read_text()
    page = (tmp_path / "site" / "index.html").read_text()
    for text in (md, page):
        assert "<script>alert" not in text and "<img src=x" not in text
    assert "](http" not in md and "http://e.vil>" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    row = next(line for line in md.splitlines() if line.startswith("| evil"))
    cells = re.split(r"(?<!\\)\|", row)[1:-1]
    assert len(cells) == len(["method", "n", "date", "phase_mae"])
    assert all(_inert(c) for c in cells), cells
    assert "a_b" in cells[0]  # intraword underscores stay readable


def test_markdown_cell_folds_whitespace_and_control_characters():
    from wemd.leaderboard.render import _markdown

    assert _markdown("a\nb\r\n| c\x1b[2J\td") == "a b \\| c \\[2J d"


def test_dollars_in_plot_text_neither_crash_nor_become_math(record, tmp_path):
    from matplotlib.text import Text

    name = "net $^$ v2 \\$ a$b$c"  # mathtext today: a parse error
    rec = _named(record, name)
    groups = rec["groups"]["depth"]  # the group plotted (the first, by name)
    groups["$\\sqrt$ nm"] = groups.pop("[0, 25) nm")
    board = Board(tmp_path / "board")
    board.submit(rec, check=False)
    written = render(tmp_path / "site", board)
    assert {p.name for p in written} >= {f"{TASK}.png", f"{TASK}_by_depth.png"}
    from wemd.leaderboard.render import _mathtext

    for text in (name, "$\\sqrt$ nm", "$$", "\\"):  # shown literally, never parsed as math
        assert Text(0, 0, _mathtext(text))._preprocess_math(_mathtext(text)) == (text, False)


# -- 7: finite numbers only, groups of the shape the evaluator writes --------------------------

@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400])
@pytest.mark.parametrize("field", ["metrics/phase_mae/mean", "groups/voltage/80 kV/phase_mae/mean",
                                   "runs/0/metrics/phase_mae/mean", "data/params/crop"])
def test_record_files_with_non_finite_numbers_are_refused(record, tmp_path, field, token):
    rec = copy.deepcopy(record)
    *parents, leaf = field.split("/")
    target = rec
    for key in parents:
        target = target[int(key) if key.isdigit() else key]
    target[leaf] = 123456.789
    path = tmp_path / "record.json"
    path.write_text(json.dumps(rec).replace("123456.789", token))
    with pytest.raises(RecordError, match="finite") as err:
        read_record(path)
    assert field in str(err.value)


def _stats():
    return {"mean": 0.5, "std": 0.1, "se": 0.05, "n": 2}


@pytest.mark.parametrize("change, field", [
    (lambda r: r.update(groups={"voltage": "80 kV"}), "groups/voltage"),
    (lambda r: r.update(groups={"voltage": {"80 kV": {}}}), "groups/voltage/80 kV"),
    (lambda r: r.update(groups={"voltage": {"80 kV": {"phase_mae": {"mean": 1.0}}}}),
     "groups/voltage/80 kV/phase_mae"),
    (lambda r: r.update(groups={"voltage": {"80 kV": {"ssim": _stats()}}}), "groups/voltage/80 kV"),
    (lambda r: r.update(groups={"v" * 300: {"80 kV": {"phase_mae": _stats()}}}), "groups"),
    (lambda r: r["runs"][0].update(metrics={"phase_mae": "0.5"}), "runs/0/metrics/phase_mae"),
    (lambda r: r["runs"][0].update(metrics={"ssim": _stats()}), "runs/0/metrics"),
    (lambda r: r["metrics"]["phase_mae"].update(std=-1.0), "metrics/phase_mae/std"),
    (lambda r: r["method"].update(name="two\nlines"), "method/name"),
    (lambda r: r["method"].update(name="\x1b[2Jcleared"), "method/name"),
    (lambda r: r["method"].update(name="x" * 201), "method/name"),
])
def test_malformed_records_are_refused_naming_the_field(record, change, field):
    rec = copy.deepcopy(record)
    change(rec)
    with pytest.raises(RecordError) as err:
        validate(rec)
    assert field in str(err.value)


def test_tampered_board_files_are_skipped_with_a_warning(record, tmp_path, capsys):
    board = Board(tmp_path / "board")
    board.submit(_named(record, "good_a"), check=False)
    better = _named(record, "good_b")
    better["metrics"]["phase_mae"]["mean"] = 0.1
    board.submit(better, check=False)
    nan = _named(record, "nan_entry")
    huge = _named(record, "huge_entry")
    nan["metrics"]["phase_mae"]["mean"] = huge["metrics"]["phase_mae"]["mean"] = 123456.789
    bad = {
        "NaN": _store(board, nan, json.dumps(nan).replace("123456.789", "NaN")),
        "finite": _store(board, huge, json.dumps(huge).replace("123456.789", "1" + "0" * 400)),
        "groups": _store(board, _named(record, "groups_entry", groups={"voltage": {"80 kV": {}}})),
        "broken": _store(board, _named(record, "broken"), '{"format": '),
        "list": _store(board, _named(record, "list"), "[1, 2]"),
        "folder": _store(board, _named(record, "elsewhere"), folder="tem_denoise_low_dose"),
        "unknown": _store(board, _named(record, "ghost", task="no_such_task"), folder="no_such_task"),
        "large": _store(board, _named(record, "large", notes="x" * (2 << 20))),
    }
    with pytest.warns(UserWarning) as caught:
        table = board.table(TASK)
        render(tmp_path / "site", board)
        assert main(["leaderboard", "show", "--board", str(board.path)]) == 0
    assert table.index("good_b") < table.index("good_a")  # lower phase_mae ranks first
    messages = "\n".join(str(w.message) for w in caught)
    for path in bad.values():
        assert str(path) in messages
    assert "_entry" not in table + capsys.readouterr().out
    assert "good_b" in (tmp_path / "site" / "index.md").read_text()


# -- 13: entries never land outside the board --------------------------------------------------

def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


@pytest.mark.parametrize("task", ["../../../outside", "{tmp}/absolute"])
def test_submit_never_writes_outside_the_board_whatever_the_task_says(record, tmp_path, task):
    board = Board(tmp_path / "sub" / "board")
    board.path.mkdir(parents=True)
    before = _files(tmp_path)
    with pytest.raises(WEMDError):
        board.submit(_named(record, "m", task=task.format(tmp=tmp_path)), check=False)
    assert [p for p in _files(tmp_path) if p in before or not (tmp_path / p).is_relative_to(board.path)] == before


@pytest.mark.parametrize("link", ["entries", f"entries/{TASK}"])
def test_submit_never_writes_through_a_link_out_of_the_board(record, tmp_path, link):
    outside = tmp_path / "outside"
    outside.mkdir()
    board = Board(tmp_path / "board")
    (board.path / link).parent.mkdir(parents=True, exist_ok=True)
    (board.path / link).symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeNameError):
        board.submit(record, check=False)
    assert not any(outside.rglob("*"))


def test_good_records_still_round_trip(record, tmp_path):
    assert math.isfinite(record["metrics"]["phase_mae"]["mean"])
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    assert read_record(path) == record
    board = Board(tmp_path / "board")
    stored = board.submit(record, check=False)
    assert stored.parent == board.path / "entries" / TASK
    assert board.entries(TASK) == [record | {"entry_id": stored.stem}]
