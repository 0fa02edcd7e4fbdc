"""Board pages: Markdown and static HTML (sortable tables) with matplotlib plots per task.

``render(out_dir, board)`` writes ``index.md``, ``index.html`` and ``plots/*.png``: per task a
bar chart of the primary metric (papers' numbers hatched, marked "reported, not reproduced"), a
breakdown by the task's first group (dose bin, voltage, ...), and for the spiral completion tasks
the error against coverage. Real, subset and synthetic results are separate sections.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any, Optional, Union

from wemd.files import atomic_path, safe_join, write_text
from wemd.leaderboard import references as refs
from wemd.leaderboard.board import NON_STANDARD, SECTIONS, Board, format_stat, is_standard
from wemd.leaderboard.instances import label_key
from wemd.leaderboard.tasks import Task, tasks

#: Sorts a table by the clicked header's own column (``cellIndex``, counted within its table):
#: cells with a numeric ``data-v`` by number, other cells by text after every number.
_SORT_JS = """<script>
function wemdSortKey(cell) {
  var v = parseFloat(cell.dataset.v);
  return isNaN(v) ? cell.textContent : v;
}
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var col = th.cellIndex, body = th.closest('table').tBodies[0];
    var rows = Array.from(body.rows), asc = th.dataset.asc !== '1';
    rows.sort(function (a, b) {
      var x = wemdSortKey(a.cells[col]), y = wemdSortKey(b.cells[col]);
      if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
      var c = typeof x === 'number' ? x - y : x.localeCompare(y);
      return asc ? c : -c;
    });
    th.dataset.asc = asc ? '1' : '0';
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>"""
_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px}"
        "th{cursor:pointer;background:#eee}tr.ref td{color:#666;font-style:italic}"
        "img{max-width:48%;margin:4px}.warn{color:#a40}"
        ".badge{border-radius:4px;padding:1px 6px;font-size:.85em;white-space:nowrap;"
        "background:#ddd;color:#333}.v-model_re-run_on_server{background:#1a7f37;color:#fff}"
        ".v-predictions_scored_on_server{background:#0969da;color:#fff}")


def _stat(s: Optional[dict[str, Any]]) -> tuple[str, str]:
    """(display text, sort value) of a metric summary."""
    text = format_stat(s, "±")
    return text, "" if text == "-" else f"{s['mean']:.8g}"


def _rows(task: Task, board: Board) -> tuple[list[str], list[tuple[str, list[list[tuple[str, str]]]]]]:
    """The header and, per section, rows of (text, sort value) cells: method, n, date, the
    verification level when the entries carry one (a server's board), then the metrics."""
    by = board.rows(task.name)
    badges = any("verification" in r for sec, _ in SECTIONS for r in by[sec])
    header = ["method", "n", "date"] + (["verification"] if badges else []) + list(task.metrics)
    out = []
    for sec, title in SECTIONS:
        rows = []
        for r in by[sec]:
            cells = [(_name(r), ""), (str(r["data"]["n"]), str(r["data"]["n"])),
                     (r["date"][:10], "")]
            cells += [(str(r.get("verification", "")), "")] if badges else []
            rows.append(cells + [_stat(r["metrics"].get(m)) for m in task.metrics])
        if rows:
            out.append((title, rows))
    ref_rows = [[(r["method"], ""), ("", ""), ("paper", "")]
                + ([(refs.STATUS, "")] if badges else [])
                + [_stat(r["metrics"].get(m)) for m in task.metrics] for r in by["reference"]]
    if ref_rows:
        out.append((f"Papers: {refs.STATUS}", ref_rows))
    return header, out


def html_tables(task: Task, board: Board) -> list[str]:
    """A task's sortable HTML tables, one per section; every field is escaped."""
    header, sections = _rows(task, board)
    body = []
    for title, rows in sections:
        cls = ' class="ref"' if title.startswith("Papers") else ""
        warn = ' class="warn"' if title.startswith("Synthetic") else ""
        body += [f"<h3{warn}>{html.escape(title)}</h3>", '<table class="sortable"><thead><tr>'
                 + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>"]
        body += [f"<tr{cls}>" + "".join(f'<td data-v="{html.escape(v)}">{_cell(h, t)}</td>'
                                        for h, (t, v) in zip(header, row)) + "</tr>" for row in rows]
        body.append("</tbody></table>")
    return body


def _cell(column: str, text: str) -> str:
    """A cell's escaped text; a verification level as a badge coloured by its level."""
    if column != "verification" or not text:
        return html.escape(text)
    return f'<span class="badge v-{_slug(text)}">{html.escape(text)}</span>'


def html_page(title: str, body: list[str]) -> str:
    """A whole page with the board's style and the column-sorting script."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + f"\n{_SORT_JS}</body></html>\n")


def _name(r: dict[str, Any]) -> str:
    """Method name of an entry, with † when it is non-standard (:func:`is_standard`)."""
    return r["method"]["name"] + ("" if is_standard(r) else " †")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _plot_path(out: Path, name: str) -> Path:
    """``out/plots/{name}.png``; names hold record fields (group names), so they are checked."""
    return safe_join(out, f"plots/{_slug(name)}.png", "plot name")


#: ASCII punctuation (CommonMark lets any be backslash-escaped), and '_' unless it stands between
#: two letters or digits (intraword, which CommonMark never reads as emphasis).
_MD_ACTIVE = re.compile(r"[!-/:-@\[-^`{-~]|(?<![^\W_])_|_(?![^\W_])")


def _markdown(text: str) -> str:
    """``text`` as one inert Markdown table cell: whitespace and control characters become one
    space, ``<``, ``>`` and ``&`` HTML entities, every other punctuation is backslash-escaped,
    so nothing becomes markup, a link, an image, HTML or a new cell."""
    text = re.sub(r"[\s\x00-\x1f\x7f]+", " ", text)
    return _MD_ACTIVE.sub(lambda m: html.escape(m[0]) if m[0] in "<>&" else "\\" + m[0], text)


def _mathtext(text: str) -> str:
    """``text`` shown literally by matplotlib: with usetex off (``render`` sees to it) only an
    unescaped ``$`` starts mathtext, so every ``$`` is escaped."""
    return text.replace("$", r"\$")


def _savefig(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def bar_plot(task: Task, board: Board, out: Path) -> Optional[Path]:
    """The primary metric of every entry, by section, with the papers' numbers hatched."""
    import matplotlib.pyplot as plt

    by = board.rows(task.name)
    labels, values, errs, styles = [], [], [], []
    for sec, _ in SECTIONS:
        for r in by[sec]:
            s = r["metrics"].get(task.primary) or {}
            if s.get("mean") is None:
                continue
            labels.append(_mathtext(f"{_name(r)} [{sec}]"))
            values.append(s["mean"])
            errs.append(s.get("std") or 0.0)
            styles.append(sec)
    if not labels:
        return None
    for r in by["reference"]:
        if task.primary in r["metrics"]:
            labels.append(_mathtext(f"{r['method']} [paper]"))
            values.append(r["metrics"][task.primary]["mean"])
            errs.append(r["metrics"][task.primary]["std"] or 0.0)
            styles.append("reference")
    colours = {"real": "tab:blue", "subset": "tab:cyan", "synthetic": "tab:orange", "reference": "0.8"}
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.2))
    bars = ax.barh(range(len(labels)), values, xerr=errs, color=[colours[s] for s in styles],
                   error_kw={"lw": 0.8})
    for bar, s in zip(bars, styles):
        if s == "reference":
            bar.set_hatch("//")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{task.primary} ({'lower' if task.lower_is_better else 'higher'} is better); "
                  "hatched: reported, not reproduced")
    ax.set_title(task.name, fontsize=10)
    return _savefig(fig, _plot_path(out, task.name))


def group_plot(task: Task, board: Board, out: Path) -> Optional[Path]:
    """The primary metric per group of the grouping with the most distinct labels across the
    entries (a grouping in which every instance falls in one label says nothing)."""
    import matplotlib.pyplot as plt

    recs = [r for sec, _ in SECTIONS for r in board.rows(task.name)[sec] if r.get("groups")]
    if not recs:
        return None
    labels = {g: {lab for r in recs for lab in r["groups"].get(g, {})} for g in recs[0]["groups"]}
    key = max(labels, key=lambda g: len(labels[g]))  # ties: the first grouping
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for r in recs:
        labs = sorted(r["groups"].get(key, {}), key=label_key)
        ys = [r["groups"][key][lab][task.primary]["mean"] for lab in labs]
        ax.plot(range(len(labs)), ys, marker="o", ls="-" if r["data"]["provenance"] == "real" else "--",
                label=_mathtext(f"{_name(r)} [{r['data']['provenance']}]"))
        ax.set_xticks(range(len(labs)), [_mathtext(lab) for lab in labs], fontsize=7, rotation=20)
    ax.set_xlabel(_mathtext(key))
    ax.set_ylabel(task.primary)
    ax.set_title(_mathtext(f"{task.name} by {key}"), fontsize=10)
    ax.legend(fontsize=7)
    return _savefig(fig, _plot_path(out, f"{task.name}_by_{key}"))


def _coverage_plot(board: Board, out: Path) -> Optional[Path]:
    """RMS against 1/coverage for every method on the spiral completion tasks."""
    import matplotlib.pyplot as plt

    spiral = [t for t in tasks().values() if t.params.get("path") == "spiral"]
    curves: dict[str, list[tuple[float, float]]] = {}
    for t in spiral:
        for sec, _ in SECTIONS:
            for r in board.rows(t.name)[sec]:
                s = r["metrics"].get("rms") or {}
                if s.get("mean") is not None:
                    curves.setdefault(_mathtext(f"{_name(r)} [{sec}]"), []).append(
                        (1 / t.params["coverage"], s["mean"]))
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, pts in sorted(curves.items()):
        pts.sort()
        ax.plot(*zip(*pts), marker="o", label=label)
    paper = sorted((float(k), v) for k, v in refs.SPIRAL_RMS.items())
    ax.plot(*zip(*paper), "k--", marker="s", label=f"paper generator ({refs.STATUS})")
    ax.set_xlabel("1 / coverage (spiral scan)")
    ax.set_ylabel("RMS error on [0, 1]")
    ax.set_title("Partial STEM completion: error against coverage", fontsize=10)
    ax.legend(fontsize=7)
    return _savefig(fig, _plot_path(out, "stem_completion_coverage"))


def render(out_dir: Union[str, Path], board: Optional[Board] = None) -> list[Path]:
    """Write the board's Markdown, HTML and plots to ``out_dir``; return the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    with matplotlib.rc_context({"text.usetex": False}):  # plot text is escaped for mathtext
        return _render(Path(out_dir), board or Board())


def _render(out: Path, board: Board) -> list[Path]:
    """``render`` itself, with matplotlib set up."""
    written: list[Path] = []
    md = ["# WEMD leaderboard", "",
          "Scores are computed by `wemd` from predictions on each task's fixed instances. Paper rows "
          f"are {refs.STATUS}. † marks entries that are {NON_STANDARD}.", ""]
    body = ["<h1>WEMD leaderboard</h1>", f"<p>Scores are computed by <code>wemd</code> from "
            f"predictions on each task's fixed instances. Paper rows are <i>{refs.STATUS}</i>. "
            f"† marks entries that are {NON_STANDARD}. Click a column to sort.</p>"]
    cov = _coverage_plot(board, out)
    if cov:
        written.append(cov)
        md += ["![error against coverage](plots/stem_completion_coverage.png)", ""]
        body.append('<img src="plots/stem_completion_coverage.png" alt="error against coverage">')
    for task in tasks().values():
        header, sections = _rows(task, board)
        md += [f"## {task.name}", "", f"{task.title}. Data: `{task.dataset}/{task.split}`, protocol "
               f"{task.protocol_version}, primary metric `{task.primary}` "
               f"({'lower' if task.lower_is_better else 'higher'} is better).", ""]
        body += [f'<h2 id="{html.escape(task.name)}">{html.escape(task.name)}</h2>',
                 f"<p>{html.escape(task.title)}. Data: <code>{task.dataset}/{task.split}</code>, "
                 f"protocol {task.protocol_version}, primary metric <code>{task.primary}</code>.</p>"]
        for title, rows in sections:
            md += [f"**{title}**", "", "| " + " | ".join(header) + " |",
                   "|" + "---|" * len(header)]
            md += ["| " + " | ".join(_markdown(c[0]) for c in row) + " |" for row in rows]
            md.append("")
        body += html_tables(task, board)
        for plot in (bar_plot(task, board, out), group_plot(task, board, out)):
            if plot:
                written.append(plot)
                rel = plot.relative_to(out).as_posix()
                md += [f"![{_markdown(plot.stem)}]({rel})", ""]
                body.append(f'<img src="{rel}" alt="{html.escape(plot.stem)}">')
    written.append(write_text(out / "index.md", "\n".join(md) + "\n"))
    page = html_page("WEMD leaderboard", body)
    written.append(write_text(out / "index.html", page))
    return written
