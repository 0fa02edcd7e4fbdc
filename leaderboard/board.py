"""The leaderboard store: validated result records, one file per entry, never overwritten.

Entries live under ``{board dir}/entries/{task}/{entry id}.json``. The board dir is ``path`` if
given, else ``$WEMD_LEADERBOARD``, else ``{data home}/leaderboard`` (never inside the package).
An entry is written to a temporary file and hard-linked to its final name, which fails if the
name exists: concurrent submits from many processes never overwrite or lose each other, and a
duplicate (same task, instances, method and predictions) is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional, Union

from wemd.errors import WEMDError
from wemd.files import safe_filename, safe_join
from wemd.leaderboard import references as refs
from wemd.leaderboard.records import RecordError, read_record, validate
from wemd.leaderboard.tasks import Task, UnknownTaskError, get_task

SECTIONS = (("real", "Real data"), ("subset", "Subsets of the real data"),
            ("synthetic", "Synthetic / simulated stand-in data (not comparable to the papers)"))


class DuplicateEntryError(WEMDError, FileExistsError):
    """The same predictions of the same method on the same instances are already on the board."""


def board_dir(path: Optional[Union[str, "os.PathLike[str]"]] = None) -> Path:
    """Where entries are stored: ``path``, ``$WEMD_LEADERBOARD`` or ``{data home}/leaderboard``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("WEMD_LEADERBOARD")
    if env:
        return Path(env).expanduser()
    from wemd.home import data_home

    return data_home() / "leaderboard"


def entry_id(record: dict[str, Any]) -> str:
    """Identity of an entry: task, instance fingerprint, method name and predictions hash."""
    key = "|".join([record["task"], record["data"]["instances_fingerprint"],
                    record["method"]["name"], record["predictions_sha256"]])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def section_of(provenance: str) -> str:
    return "synthetic" if provenance in ("synthetic", "simulated") else provenance


#: What a † marks on tables and pages.
NON_STANDARD = "non-standard: changed protocol parameters, or fewer instances than the protocol's"


def is_standard(record: dict[str, Any]) -> bool:
    """Whether an entry follows its task's protocol: the paper's parameters and at least the
    protocol's number of instances (``--n`` smaller than that is allowed, and flagged)."""
    data = record["data"]
    most = get_task(record["task"]).n_default
    return bool(data["standard"]) and (most is None or data["n"] >= most)


def record_task(record: dict[str, Any]) -> Task:
    """The task of a validated record: it must be known, and the record must report exactly the
    task's metrics (what every entry on the board satisfies, checked without data)."""
    try:
        task = get_task(record["task"])
    except UnknownTaskError as exc:
        raise RecordError(f"The record is for an unknown task: {exc}") from None
    if sorted(record["metrics"]) != sorted(task.metrics):
        raise RecordError(f"The record reports metrics {sorted(record['metrics'])} but {task.name} "
                          f"is scored by {list(task.metrics)}; re-run the evaluation.")
    return task


def check_record(record: dict[str, Any], *, root: Any = None, ds: Any = None) -> None:
    """Schema, task, protocol version and the instance fingerprint recomputed from the data."""
    validate(record)
    task = record_task(record)
    if record["protocol_version"] != task.protocol_version:
        raise RecordError(f"Record uses protocol {record['protocol_version']} of {task.name}; the "
                          f"board accepts protocol {task.protocol_version}. Re-run the evaluation.")
    data = record["data"]
    try:
        task = task.with_params(**data["params"])
    except ValueError as exc:
        raise RecordError(f"Record parameters do not fit {task.name}: {exc}") from None
    if task.standard != data["standard"]:
        raise RecordError(f"Record claims standard={data['standard']} but its parameters say "
                          f"{task.standard}.")
    ds = ds if ds is not None else task.open(source=data["source"], root=root)
    dfp = ds.fingerprint()
    if dfp != data["dataset_fingerprint"] or ds.provenance != data["provenance"]:
        raise RecordError(f"The record's dataset fingerprint {data['dataset_fingerprint'][:24]}... "
                          f"does not match {task.dataset}/{task.split} from source "
                          f"{data['source']!r} here ({dfp[:24]}...): it was evaluated on other data.")
    official = task.fingerprint(ds, data["n"], dataset_fingerprint=dfp)
    if official != data["instances_fingerprint"]:
        raise RecordError(f"The record's instance fingerprint does not match the official "
                          f"instances of {task.name} (n = {data['n']}) on this data; evaluate "
                          "with this package version's task definition.")


class Board:
    """A leaderboard directory: submit records, list entries, show tables."""

    def __init__(self, path: Optional[Union[str, "os.PathLike[str]"]] = None):
        self.path = board_dir(path)

    def submit(self, record: dict[str, Any], *, root: Any = None, ds: Any = None,
               check: bool = True) -> Path:
        """Validate a record (see ``check_record``) and store it as a new entry; return its path.

        ``root`` is the data home holding the task's data (for the fingerprint check).
        """
        if check:
            check_record(record, root=root, ds=ds)
        else:
            validate(record)
            record_task(record)
        eid = entry_id(record)
        folder = self._folder(record["task"])
        final = safe_join(folder, f"{eid}.json", "board entry id", single=True)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{eid}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh, indent=2, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, final)
            except FileExistsError:
                raise DuplicateEntryError(f"Entry {eid} is already on the board ({final}): same "
                                          "task, instances, method and predictions.") from None
        finally:
            os.unlink(tmp)
        return final

    def _folder(self, task: str) -> Path:
        """The folder of a task's entries; the name comes from input, so it is checked."""
        return safe_join(self.path, f"entries/{safe_filename(task, 'task name')}", "board folder")

    def entries(self, task: Optional[str] = None) -> list[dict[str, Any]]:
        """Every stored record (with ``entry_id``), optionally of one task.

        An entry that fails the checks of a submit without data (``validate``, ``record_task``)
        or sits in another task's folder was edited by hand: it is skipped with a warning naming
        the file, so one bad file never hides or scrambles the rest of the board.
        """
        base = self.path / "entries"
        folders = [self._folder(task)] if task else sorted(p for p in base.glob("*") if p.is_dir())
        out = []
        for folder in folders:
            for f in sorted(folder.glob("*.json")):
                try:
                    rec = read_record(f)
                    if record_task(rec).name != folder.name:
                        raise RecordError(f"it is for task {rec['task']!r} but filed under {folder.name!r}")
                except RecordError as exc:
                    warnings.warn(f"Skipping board entry {f}: {exc}\nDelete the file, or submit "
                                  "the record again (`wemd leaderboard submit`).", stacklevel=2)
                    continue
                out.append(rec | {"entry_id": f.stem})
        return out

    def rows(self, task_name: str) -> dict[str, list[dict[str, Any]]]:
        """Entries of a task by section (real / subset / synthetic), best first, plus the
        papers' numbers under 'reference'."""
        task = get_task(task_name)
        sign = 1 if task.lower_is_better else -1
        by: dict[str, list[dict[str, Any]]] = {s: [] for s, _ in SECTIONS}
        for rec in self.entries(task_name):
            by.setdefault(section_of(rec["data"]["provenance"]), []).append(rec)
        for recs in by.values():
            recs.sort(key=lambda r: sign * r["metrics"].get(task.primary, {}).get("mean", float("inf")))
        by["reference"] = [r.as_dict() for r in task.references]
        return by

    def to_frame(self, task: Optional[str] = None) -> Any:
        """One row per entry (of one task), typed columns: ``task``, ``entry_id``, ``method``,
        ``kind``, ``section``, ``provenance``, ``source``, ``n`` (int), ``standard`` (bool, :func:`is_standard`),
        ``date`` (UTC datetime), ``verification`` ("" for a board folder's own records), then
        ``{metric}`` (the mean) and ``{metric}_std`` (float, NaN where a task lacks it)."""
        import pandas as pd

        recs = self.entries(task)
        names = list(get_task(task).metrics) if task else sorted({m for r in recs for m in r["metrics"]})
        rows = [{"task": r["task"], "entry_id": r.get("entry_id", ""), "method": r["method"]["name"],
                 "kind": r["method"]["kind"], "section": section_of(r["data"]["provenance"]),
                 "provenance": r["data"]["provenance"], "source": r["data"]["source"],
                 "n": r["data"]["n"], "standard": is_standard(r), "date": r["date"],
                 "verification": r.get("verification", ""),
                 **{k: v for m in names for k, v in _stat_cells(m, r["metrics"].get(m))}}
                for r in recs]
        columns = ["task", "entry_id", "method", "kind", "section", "provenance", "source", "n",
                   "standard", "date", "verification"] + [f"{m}{x}" for m in names for x in ("", "_std")]
        frame = pd.DataFrame(rows, columns=columns)
        types = {c: "string" for c in columns[:7] + ["verification"]}
        types |= {"n": "int64", "standard": "bool"} | {c: "float64" for c in columns[11:]}
        frame = frame.astype(types)
        frame["date"] = pd.to_datetime(frame["date"], utc=True, format="ISO8601")
        return frame

    def table(self, task_name: str) -> str:
        """Terminal table of one task, printed from :meth:`to_frame`: real, subset and synthetic
        sections (best first), a verification column for a server's entries, then the papers."""
        task = get_task(task_name)
        frame = self.to_frame(task_name)
        badges = bool(frame["verification"].str.len().gt(0).any())
        head = (f"{'method':<34} {'n':>6}  " + (f"{'verification':<30}  " if badges else "")
                + "  ".join(f"{m:>20}" for m in task.metrics))
        arrow = "lower" if task.lower_is_better else "higher"
        out = [f"{task.name}: {task.title} (protocol {task.protocol_version}; {task.primary}, "
               f"{arrow} is better)"]
        for sec, title in SECTIONS:
            rows = frame[frame["section"] == sec].sort_values(task.primary, ascending=task.lower_is_better,
                                                              na_position="last", kind="stable")
            if rows.empty:
                continue
            out += ["", f"== {title} ==", head]
            for r in rows.itertuples(index=False):
                r = r._asdict()
                name = r["method"] + ("" if r["standard"] else " †")
                badge = f"{r['verification']:<30}  " if badges else ""
                cells = "  ".join(f"{_frame_stat(r, m):>20}" for m in task.metrics)
                out.append(f"{name:<34} {r['n']:>6}  {badge}{cells}")
        refs_rows = [ref.as_dict() for ref in task.references]
        if refs_rows:
            out += ["", f"== Papers ({refs.STATUS}) ==", head]
            for r in refs_rows:
                badge = f"{'':<30}  " if badges else ""
                cells = "  ".join(f"{format_stat(r['metrics'].get(m)):>20}" for m in task.metrics)
                out.append(f"{r['method'][:34]:<34} {'':>6}  {badge}{cells}")
        if frame.empty:
            out.append("(no entries yet)")
        if not frame["standard"].all():
            out.append(f"† {NON_STANDARD}; not comparable.")
        return "\n".join(out)

class RecordsBoard(Board):
    """A board of records held in memory (e.g. a server's entries, each with ``entry_id`` and
    ``verification``): the same tables and pages as a board folder. ``where`` names it."""

    def __init__(self, records: list[dict[str, Any]], where: str):
        self.path = where  # type: ignore[assignment]  # a URL, shown in messages
        self.records = records

    def entries(self, task: Optional[str] = None) -> list[dict[str, Any]]:
        return [r for r in self.records if task is None or r.get("task") == task]

def _stat_cells(metric: str, stats: Optional[dict[str, Any]]) -> list[tuple[str, Optional[float]]]:
    stats = stats or {}
    return [(metric, stats.get("mean")), (f"{metric}_std", stats.get("std"))]


def _frame_stat(row: dict[str, Any], metric: str) -> str:
    """A frame row's metric as :func:`format_stat` shows it (NaN stands for a missing value)."""
    mean, std = row[metric], row[f"{metric}_std"]
    return format_stat(None if mean != mean else {"mean": mean, "std": None if std != std else std})


def format_stat(stats: Optional[dict[str, Any]], pm: str = "+-") -> str:
    """A metric summary as "mean +- std" (4 and 3 significant digits), "-" when it has none."""
    if not stats or stats.get("mean") is None:
        return "-"
    std = stats.get("std")
    return f"{stats['mean']:.4g}" + (f" {pm} {std:.3g}" if std is not None else "")
