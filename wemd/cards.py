"""Data cards: one Markdown card per dataset, with YAML front matter usable on the Hugging Face Hub.

Cards are generated from the catalog, so no count is ever written twice; a test checks that the
files in ``data_cards/`` are what this module renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml

from wemd import catalog
from wemd.catalog import DatasetSpec

_HF_SIZE = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
_HF_SPLIT = {"train": "train", "val": "validation", "test": "test", "all": "train"}


def hf_split(split: str) -> str:
    """The Hugging Face split name of a wemd split (val -> validation)."""
    return _HF_SPLIT.get(split, split)


def size_category(n: int) -> str:
    return next(label for limit, label in _HF_SIZE if n < limit)


def front_matter(spec: DatasetSpec) -> dict:
    """Hugging Face dataset-card metadata for one dataset."""
    return {
        "pretty_name": f"WEMD {spec.name}",
        "license": catalog.LICENSE,
        "size_categories": [size_category(spec.total)],
        "task_categories": ["image-to-image"],
        "tags": ["electron-microscopy", "wemd", spec.family],
        "configs": [{"config_name": spec.name,
                     "data_files": [{"split": hf_split(s), "path": f"{spec.name}/{hf_split(s)}-*.parquet"}
                                    for s in spec.splits]}],
        "wemd": {"name": spec.name, "catalog_version": catalog.CATALOG_VERSION,
                 "splits": dict(spec.splits), "item_shape": list(spec.item_shape) if spec.item_shape else None,
                 "dtype": spec.dtype, "layouts": list(spec.layouts)},
    }


def render(spec: DatasetSpec, front: Optional[dict] = None) -> str:
    """The Markdown card of one dataset (``front``: front matter extending ``front_matter(spec)``)."""
    head = yaml.safe_dump(front if front is not None else front_matter(spec), sort_keys=False)
    shape = "x".join(map(str, spec.item_shape)) if spec.item_shape else "varied"
    rows = "\n".join(f"| {s} | {n} |" for s, n in spec.splits.items())
    paper = spec.paper
    lines = [
        f"---\n{head}---",
        f"# {spec.name}",
        "",
        spec.description + ".",
        "",
        "## Contents",
        f"- Family: {spec.family}; item: {spec.dtype} {shape}" +
        (f"; derived from `{spec.derived_from}`" if spec.derived_from else ""),
        f"- Physics: {spec.physics}" if spec.physics else None,
        f"- Partition: {spec.partition} ({_partition_text(spec)})",
        f"- Accepted on-disk layouts: {', '.join(spec.layouts)} (see `wemd info {spec.name}`)",
        f"- Approximate size: {spec.approx_size}" if spec.approx_size else None,
        "",
        "| split | items |",
        "|---|---|",
        rows,
        f"| total | {spec.total} |",
        "",
    ]
    if spec.notes:
        lines += ["## Notes", *[f"- {n}" for n in spec.notes], ""]
    if spec.discrepancies:
        lines += ["## Known discrepancies", *[f"- {d}" for d in spec.discrepancies], ""]
    lines += [
        "## Use",
        "```python",
        "import wemd",
        f"ds = wemd.load({spec.name!r}, split={next(iter(spec.splits))!r})",
        "```",
        "",
        "## Provenance and licence",
        f"- Paper: {paper['authors']}, \"{paper['title']}\", {paper['journal']} ({paper['year']})"
        + (f", doi:{paper['doi']}" if paper.get("doi") else ""),
        f"- Data DOI: {catalog.DATA_DOI}; landing page: {catalog.LANDING_PAGE}",
        "- Licence: CC BY 4.0",
        "",
    ]
    return "\n".join(line for line in lines if line is not None)


def _partition_text(spec: DatasetSpec) -> str:
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
