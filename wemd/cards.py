"""Data cards: one Markdown card per dataset, with YAML front matter usable on the Hugging Face Hub.

Cards are generated from the catalog, so no count is ever written twice; a test checks that the
files in ``data_cards/`` are what this module renders. The card of a copy that is not the whole
published dataset (a synthetic stand-in, simulated waves, a subset; ``wemd export-hf``) says so
in its title and first lines and lists that copy's own counts. A dataset curated from a lab's own
files (``wemd curate``) gets a card of its own: its rules, and the WEMD paper as the method only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml

from wemd import catalog
from wemd.authors_scripts import SCRIPT_NOTES
from wemd.catalog import DatasetSpec

_HF_SIZE = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
            (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
_HF_SPLIT = {"train": "train", "val": "validation", "test": "test", "all": "train"}
#: What a copy other than the published dataset is: (title label, first paragraph).
_NOT_PUBLISHED = {
    "synthetic": ("synthetic stand-in, not the published data",
                  "A synthetic stand-in, physically simulated by wemd in the layout of the "
                  "published data, for demos, tests and CI. Nothing computed on it is a result on "
                  "WEMD."),
    "simulated": ("simulated copy, not the published data",
                  "Wavefunctions simulated by `wemd simulate` with the published protocol, not the "
                  "published files."),
    "subset": ("a subset of the published data",
               "A subset of the published data: {n} of its {total} items."),
}


def hf_split(split: str) -> str:
    """The Hugging Face split name of a wemd split (val -> validation)."""
    return _HF_SPLIT.get(split, split)


def size_category(n: int) -> str:
    return next(label for limit, label in _HF_SIZE if n < limit)


def copy_kind(spec: DatasetSpec, provenance: str, counts: dict[str, int]) -> str:
    """``"real"`` for the whole published dataset, else what a copy with these split ``counts``
    is: ``"synthetic"``, ``"simulated"`` or ``"subset"`` (real data, but not every split)."""
    if provenance != "real":
        return provenance
    return "real" if set(counts) == set(spec.splits) else "subset"


def copy_label(kind: str) -> str:
    """How a title names a copy of this :func:`copy_kind` (``""`` for the published dataset)."""
    return _NOT_PUBLISHED[kind][0] if kind in _NOT_PUBLISHED else ""


def front_matter(spec: DatasetSpec) -> dict:
    """Hugging Face dataset-card metadata for one dataset."""
    curated = spec.declared_at is not None
    return {
        "pretty_name": f"{spec.name} (curated with wemd)" if curated else f"WEMD {spec.name}",
        "license": "unknown" if curated else catalog.LICENSE,
        "size_categories": [size_category(spec.total)],
        "task_categories": ["image-to-image"],
        "tags": ["electron-microscopy", "wemd", spec.family],
        "configs": [{"config_name": spec.name,
                     "data_files": [{"split": hf_split(s), "path": f"{spec.name}/{hf_split(s)}-*.parquet"}
                                    for s in spec.splits]}],
        "wemd": {"name": spec.name, "catalog_version": catalog.CATALOG_VERSION,
                 "splits": dict(spec.splits), "item_shape": list(spec.item_shape) if spec.item_shape else None,
                 "dtype": spec.dtype, "layouts": list(spec.layouts),
                 # a curated set's whole declaration, so a fresh process can load its export
                 **({"curated": catalog.declaration(spec)} if curated else {})},
    }


def render(spec: DatasetSpec, front: Optional[dict] = None, *, provenance: str = "real",
           counts: Optional[dict[str, int]] = None) -> str:
    """The Markdown card of one dataset (``front``: front matter extending ``front_matter(spec)``).

    ``provenance`` and split ``counts`` (default: the published ones) describe the copy the card
    is for; any copy but the published dataset says what it is, with its own counts.
    """
    head = yaml.safe_dump(front if front is not None else front_matter(spec), sort_keys=False)
    shape = "x".join(map(str, spec.item_shape)) if spec.item_shape else "varied"
    counts = dict(spec.splits) if counts is None else counts
    kind = copy_kind(spec, provenance, counts)
    rows = "\n".join(f"| {s} | {n} |" for s, n in counts.items())
    paper = spec.paper
    if spec.declared_at is not None:
        intro = [f"# {spec.name}: curated from a lab's own microscope files", "",
                 f"{spec.description}, made by `wemd curate` with the WEMD curation steps. It is "
                 "not part of the published WEMD data."]
    elif kind == "real":
        intro = [f"# {spec.name}", "", spec.description + "."]
    else:
        label, what = _NOT_PUBLISHED[kind]
        intro = [f"# {spec.name}: {label}", "",
                 what.format(n=sum(counts.values()), total=spec.total), "",
                 f"The published `{spec.name}` ({spec.total} items): {spec.description}."]
    lines = [
        f"---\n{head}---",
        *intro,
        "",
        "## Contents",
        f"- Family: {spec.family}; item: {spec.dtype} {shape}" +
        (f"; derived from `{spec.derived_from}`" if spec.derived_from else ""),
        f"- Physics: {spec.physics}" if spec.physics else None,
        f"- Partition: {spec.partition} ({_partition_text(spec)})",
        f"- Accepted on-disk layouts: {', '.join(spec.layouts)} (see `wemd info {spec.name}`)",
        f"- Approximate size: {spec.approx_size}" if spec.approx_size and kind == "real" else None,
        "",
        "| split | items |",
        "|---|---|",
        rows,
        f"| total | {sum(counts.values())} |",
        "",
    ]
    if spec.notes:
        lines += ["## Curation rules" if spec.declared_at else "## Notes",
                  *[f"- {n}" for n in spec.notes], ""]
    if spec.discrepancies:
        lines += ["## Known discrepancies", *[f"- {d}" for d in spec.discrepancies], ""]
    if spec.name in SCRIPT_NOTES:
        lines += ["## How the authors' scripts made it", *[f"- {n}" for n in SCRIPT_NOTES[spec.name]],
                  ""]
    lines += [
        "## Use",
        "```python",
        "import wemd",
        f"ds = wemd.load({spec.name!r}, split={next(iter(spec.splits))!r})",
        "```",
        "",
        "## Provenance and licence",
    ]
    citation = (f"{paper['authors']}, \"{paper['title']}\", {paper['journal']} ({paper['year']})"
                + (f", doi:{paper['doi']}" if paper.get("doi") else ""))
    if spec.declared_at is not None:
        lines += ["- Source files, their sha256 hashes, rejected files and why: `wemd.json` beside "
                  "this card; one row per item in `items.parquet` (`wemd info NAME`).",
                  f"- Method: {citation}",
                  "- Licence: set by the owners of the source files.", ""]
    else:
        lines += [f"- Paper: {citation}",
                  f"- Data DOI: {catalog.DATA_DOI}; landing page: {catalog.LANDING_PAGE}",
                  "- Licence: CC BY 4.0", ""]
    return "\n".join(line for line in lines if line is not None)


def _partition_text(spec: DatasetSpec) -> str:
    if spec.declared_at is not None:
        return ("contiguous index ranges in train, val, test order over whole groups of images "
                "(see the rules); no group crosses splits")
    return {
        "contiguous": "contiguous index ranges in train, val, test order, taken before any shuffling "
                      "from data concatenated contributor by contributor",
        "subfolders": "one folder per split; journals of the source CIFs do not cross splits",
        "journal": "by the journal each CIF was published in",
        "none": "no partition",
    }[spec.partition]


def write_cards(out: Path) -> list[Path]:
    """Write every card into ``out`` (atomically, one file per dataset)."""
    from wemd.files import write_text

    return [write_text(Path(out) / f"{name}.md", render(spec)) for name, spec in catalog.CATALOG.items()]
