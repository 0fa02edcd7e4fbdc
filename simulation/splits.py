"""Which split a CIF falls into: WEMD's journal table, a user's journal map, or a structure hash.

WEMD partitioned its CIFs by journal (:data:`wemd.catalog.JOURNAL_SPLITS`). CIFs from other
collections name other journals, and name the same journal in many spellings, so journal names
are compared by :func:`wemd.journals.journal_key` ("Acta Cryst. B" and "Acta Crystallographica
Section B" are one journal), the same rule the catalog's :func:`~wemd.catalog.journal_split` uses.

Three rules (:class:`SplitRule`):

- ``journal`` (default): the WEMD table; other journals are "unassigned" and not simulated.
- ``journal`` with a map (``--split-map FILE``): the user's JSON object journal -> split.
- ``structure``: a split drawn from the SHA-256 of the structure
  (:func:`~wemd.simulation.cif.structure_hash`) in the variant's published proportions. It
  depends on nothing but the structure, so it is the same on every machine and in every run,
  and two ids of one structure always share a split: no leak between splits by duplicates.

The rule is recorded in every wave's metadata and in ``wemd.json`` (``published_partition`` is
true only for the WEMD table), so a custom split never passes for the published one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from wemd.catalog import JOURNAL_TABLE, SPLIT_ORDER, get as catalog_get
from wemd.errors import WEMDError
from wemd.journals import journal_key

SPLIT_RULES = ("journal", "structure")
UNASSIGNED = "unassigned"
#: A split map is a small JSON object; larger files are refused unread.
MAX_MAP_BYTES = 1_000_000
MAX_MAP_ENTRIES = 20_000
MAP_HINT = 'a JSON object such as {"Acta Cryst. B": "train", "J. Solid State Chem.": "test"}'


class SplitRuleError(WEMDError, ValueError):
    """A split rule or split map that cannot be used."""


def structure_fraction(digest: str) -> float:
    """A number in [0, 1) from a hex digest (its first 64 bits): uniform over structures."""
    return int(digest[:16], 16) / 2.0**64


@dataclass(frozen=True)
class SplitRule:
    """How CIFs are assigned to splits; call it with a :class:`~wemd.simulation.cif.Crystal`."""

    by: str = "journal"
    journal_map: Optional[dict[str, str]] = None  # journal_key -> split; None: WEMD's
    map_source: Optional[str] = None  # the map file's name and sha256, for the record
    fractions: dict[str, float] = field(default_factory=dict)  # structure rule only

    @property
    def published(self) -> bool:
        """True only for WEMD's own journal table."""
        return self.by == "journal" and self.journal_map is None

    def __call__(self, crystal: Any) -> str:
        if self.by == "structure":
            from wemd.simulation.cif import structure_hash

            u, acc = structure_fraction(structure_hash(crystal)), 0.0
            for split, share in self.fractions.items():
                acc += share
                if u < acc:
                    return split
            return list(self.fractions)[-1]
        table = JOURNAL_TABLE if self.journal_map is None else self.journal_map
        return table.get(journal_key(crystal.journal), UNASSIGNED)

    def describe(self) -> str:
        """One line for the manifest and messages."""
        if self.published:
            return "journal (WEMD's published journal table)"
        if self.by == "journal":
            return f"journal (custom map {self.map_source})"
        shares = ", ".join(f"{s} {f:.4f}" for s, f in self.fractions.items())
        return f"structure (sha256 of the P1 structure, origin-free; {shares})"

    @property
    def table(self) -> dict[str, str]:
        """The journal table in use (journal_key -> split), sorted; {} for the structure rule."""
        if self.by != "journal":
            return {}
        return dict(sorted((self.journal_map or JOURNAL_TABLE).items()))

    def to_json(self) -> dict[str, Any]:
        """The full record, written into ``wemd.json``: the journal rule with its whole map."""
        record: dict[str, Any] = {"by": self.by, "published_partition": self.published,
                                  "description": self.describe()}
        if self.by == "journal":
            record["journal_key"] = "wemd.journals.journal_key"
            record["map"] = self.table
            record["map_sha256"] = hashlib.sha256(
                json.dumps(record["map"], sort_keys=True).encode()).hexdigest()
            if self.map_source:
                record["map_source"] = self.map_source
        else:
            record["hash"] = "wemd.simulation.cif.structure_hash (sha256), first 64 bits / 2^64"
            record["fractions"] = self.fractions
            record["order"] = list(self.fractions)  # fractions are stacked in this order
        return record

    def wave_record(self, journal: Optional[str]) -> dict[str, Any]:
        """The record in one wave's metadata: :meth:`to_json` with the journal map reduced to
        the entry this wave's journal met (the map's sha256 names the whole map, which is in
        ``wemd.json``), so metadata stays small whatever the map's size."""
        record = self.to_json()
        if "map" in record:
            key = journal_key(journal)
            record["map"] = {key: record["map"][key]} if key in record["map"] else {}
        return record


def read_split_map(path: Union[str, os.PathLike], valid: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """A JSON split map ``{journal: split}`` keyed by :func:`journal_key`, and its source line.

    Refused (:class:`SplitRuleError`, before any simulation): a file that is missing, too big,
    not a JSON object of strings, names a split outside ``valid``, or gives two spellings of
    one journal different splits.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:  # read at most the limit: a device or pipe never ends
            raw = handle.read(MAX_MAP_BYTES + 1)
        if len(raw) > MAX_MAP_BYTES:
            raise SplitRuleError(f"--split-map {path}: over the {MAX_MAP_BYTES:,} byte limit "
                                 "for a journal map")
    except OSError as exc:
        raise SplitRuleError(f"--split-map {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        mapping = json.loads(raw.decode("utf-8-sig"))  # editors on Windows write a BOM
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SplitRuleError(f"--split-map {path}: not JSON ({exc}); write {MAP_HINT}") from None
    return check_split_map(mapping, f"--split-map {path}", valid), \
        f"{path.name} sha256:{hashlib.sha256(raw).hexdigest()}"


def check_split_map(mapping: Any, where: str, valid: tuple[str, ...]) -> dict[str, str]:
    """``mapping`` ({journal: split}) keyed by :func:`journal_key`, or :class:`SplitRuleError`
    naming ``where`` when it is not a non-empty object of strings, names a split outside
    ``valid``, or gives two spellings of one journal different splits."""
    if not isinstance(mapping, dict) or not mapping:
        raise SplitRuleError(f"{where}: needs {MAP_HINT}")
    if len(mapping) > MAX_MAP_ENTRIES:
        raise SplitRuleError(f"{where}: {len(mapping):,} journals, over the limit of "
                             f"{MAX_MAP_ENTRIES:,}")
    table: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for journal, split in mapping.items():
        if not isinstance(journal, str):
            raise SplitRuleError(f"{where}: needs {MAP_HINT}; {journal!r} is not a journal name")
        if not isinstance(split, str) or split not in valid:
            raise SplitRuleError(f"{where}: journal {journal[:80]!r} maps to "
                                 f"{str(split)[:40]!r}, which is not a split of this variant; "
                                 f"use one of {', '.join(valid)}")
        key = journal_key(journal)
        if not key:
            raise SplitRuleError(f"{where}: {journal[:80]!r} is not a journal name")
        if table.get(key, split) != split:
            raise SplitRuleError(f"{where}: {spelled[key][:80]!r} and {journal[:80]!r} "
                                 f"name one journal but map it to {table[key]!r} and {split!r}")
        table[key], spelled[key] = split, journal
    return table


def make_split_rule(variant: str, split_by: str = "journal",
                    split_map: Union[None, str, os.PathLike, dict[str, str]] = None) -> SplitRule:
    """The rule for ``variant`` from the CLI's ``--split-by`` and ``--split-map``.

    A map implies ``--split-by journal``. The structure rule uses the variant's published split
    proportions (those of its parent for the ``unseen`` variants, which take training CIFs).
    """
    if split_by not in SPLIT_RULES:
        raise SplitRuleError(f"--split-by {split_by!r}: choose one of {', '.join(SPLIT_RULES)}")
    spec = catalog_get(variant)
    valid = tuple(s for s in SPLIT_ORDER if s in spec.splits) or tuple(spec.splits)
    if variant.endswith("_unseen"):  # their CIFs come from the parent's training split
        valid = tuple(s for s in SPLIT_ORDER if s in catalog_get(variant[:-len("_unseen")]).splits)
    if split_map is not None:
        if split_by != "journal":
            raise SplitRuleError("--split-map assigns journals to splits; it cannot be combined "
                                 "with --split-by structure")
        if isinstance(split_map, dict):
            raw = json.dumps(split_map, sort_keys=True).encode()
            table = check_split_map(split_map, "split_map", valid)
            source = f"a dict, sha256:{hashlib.sha256(raw).hexdigest()}"
        else:
            table, source = read_split_map(split_map, valid)
        return SplitRule("journal", table, source)
    if split_by == "structure":
        parent = catalog_get(variant[:-len("_unseen")] if variant.endswith("_unseen") else variant)
        counts = {s: n for s, n in parent.splits.items() if s in valid}
        total = sum(counts.values())
        return SplitRule("structure", fractions={s: n / total for s, n in counts.items()})
    return SplitRule("journal")
