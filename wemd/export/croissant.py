"""Croissant (MLCommons, 1.1) JSON-LD metadata for one dataset, generated from the catalog.

The record set describes the Parquet layout that ``wemd export-hf`` writes (one field per column,
arrays with ``isArray``/``arrayShape``); the distribution lists that layout as a file set and,
when given, every file of an export folder and of a mirror with its sha256 and size. Nothing
here needs mlcroissant; the tests validate the output with it.

Without ``base_url`` the JSON may be saved anywhere (``wemd croissant NAME --export DIR > x.json``
cannot know where the shell puts it): files are named by absolute paths, and the Parquet file set
is contained in the export folder itself, described as Hugging Face describes its repositories
(a ``git+https`` object read in place), so readers find the records wherever the JSON lies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from wemd import catalog
from wemd.catalog import DatasetSpec
from wemd.errors import WEMDError
from wemd.export.encoding import COMMON_FIELDS, Field, encoding_for
from wemd.files import sha256_file
from wemd.home import PathLike

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"
#: A folder has no digest; Hugging Face's Croissant files use this placeholder for repositories.
NO_DIGEST = "https://github.com/mlcommons/croissant/issues/80"

# The Croissant vocabulary: schema.org terms plus the cr: namespace (as the Croissant spec lists it).
CONTEXT: dict[str, Any] = {
    "@language": "en", "@vocab": "https://schema.org/", "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/", "conformsTo": "dct:conformsTo",
    "data": {"@id": "cr:data", "@type": "@json"}, "examples": {"@id": "cr:examples", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    **{term: f"cr:{term}" for term in (
        "citeAs", "column", "containedIn", "equivalentProperty", "extract", "field", "fileProperty",
        "fileObject", "fileSet", "format", "includes", "isLiveDataset", "jsonPath", "key", "md5",
        "parentField", "path", "recordSet", "references", "regex", "repeated", "replace",
        "samplingRate", "separator", "source", "subField", "transform")},
}


def croissant(name: str, export: Optional[PathLike] = None, mirror: Optional[PathLike] = None,
              base_url: Optional[str] = None) -> dict[str, Any]:
    """The Croissant JSON-LD of ``name``.

    ``export``: a ``wemd export-hf`` folder whose Parquet shards are listed with sha256, and
    whose records are read from that folder wherever the JSON is saved (unless ``base_url``);
    ``mirror``: a ``wemd mirror build`` folder whose tar shards are listed likewise;
    ``base_url``: where those folders are served (default: absolute paths on this machine).
    Without ``export`` the file set is found beside the JSON (save it in an export folder).
    """
    spec = catalog.get(name)
    file_set = f"{name}-parquet"
    parquet: dict[str, Any] = {
        "@type": "cr:FileSet", "@id": file_set, "name": file_set,
        "description": "Parquet shards written by `wemd export-hf`, one config per dataset.",
        "encodingFormat": "application/x-parquet", "includes": f"{name}/*.parquet"}
    distribution: list[dict[str, Any]] = [parquet]
    if export is not None:
        folder = Path(export).resolve()
        shards = sorted((folder / name).glob("*.parquet"))
        if not shards:
            raise WEMDError(f"{folder} holds no {name}/*.parquet; write them with `wemd export-hf "
                            f"{name} {export}`.")
        if base_url is None:
            distribution.insert(0, _export_folder(name, folder))
            parquet["containedIn"] = {"@id": f"{name}-export"}
        distribution += _file_objects(folder, shards, "application/x-parquet", base_url)
    if mirror is not None:
        from wemd.mirror import MIRROR_MANIFEST

        folder = Path(mirror) / name
        if not (folder / MIRROR_MANIFEST).is_file():
            raise WEMDError(f"{folder} has no {MIRROR_MANIFEST}; build it with `wemd mirror build "
                            f"{name} {mirror}`.")
        shards = [s["path"] for s in json.loads((folder / MIRROR_MANIFEST).read_text())["shards"]]
        distribution += _file_objects(Path(mirror), [folder / MIRROR_MANIFEST], "application/json", base_url)
        distribution += _file_objects(Path(mirror), [folder / s for s in shards], "application/x-tar", base_url)
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": f"wemd-{name}",
        "description": _description(spec, *_copy_facts(name, export, mirror)),
        "url": catalog.LANDING_PAGE,
        "sameAs": f"https://doi.org/{catalog.DATA_DOI}",
        "license": LICENSE_URL,
        "version": f"{catalog.CATALOG_VERSION}.0.0",
        "datePublished": f"{spec.paper['year']}-01-01",
        "citeAs": _citation(spec),
        "keywords": ["electron microscopy", spec.family, "wemd"],
        "distribution": distribution,
        "recordSet": [{"@type": "cr:RecordSet", "@id": name, "name": name,
                       "description": f"One record per item of {name}, in the published order.",
                       "field": _fields(spec, file_set)}],
    }


def _copy_facts(name: str, export: Optional[PathLike],
                mirror: Optional[PathLike]) -> tuple[Optional[str], Optional[dict[str, int]]]:
    """(provenance, split counts) of the copy the file set holds: the export's card, else the
    mirror's manifest; (None, None) when the JSON describes the dataset without files."""
    if export is not None:
        from wemd.export.hf import export_info

        info, _ = export_info(name, export)
        return info["provenance"], {s: v["num_examples"] for s, v in info["splits"].items()}
    if mirror is not None:
        from wemd.mirror import MIRROR_MANIFEST, parse_mirror_manifest

        path = Path(mirror) / name / MIRROR_MANIFEST
        listing = parse_mirror_manifest(path.read_bytes(), str(path))
        return listing.provenance, listing.splits
    return None, None


def _description(spec: DatasetSpec, provenance: Optional[str],
                 counts: Optional[dict[str, int]]) -> str:
    """The dataset's description; a copy that is not the published data says so first, with its
    own counts (a synthetic export must never read as WEMD itself)."""
    published = (f"{spec.description}. Part of the Warwick Electron Microscopy Datasets (WEMD); "
                 f"fixed {spec.partition} partition: "
                 + ", ".join(f"{s} {n}" for s, n in spec.splits.items()) + ".")
    if provenance in (None, "real"):
        return published
    held = ", ".join(f"{s} {counts[s]}" for s in sorted(counts or {}, key=catalog.split_rank))
    return (f"A {provenance.upper()} copy of {spec.name}, not the published data: it holds "
            f"{held or 'the splits its files list'}. What it stands in for: {published}")


def _export_folder(name: str, folder: Path) -> dict[str, Any]:
    """The export folder on this machine as the container of its Parquet file set."""
    return {"@type": "cr:FileObject", "@id": f"{name}-export", "name": f"{name}-export",
            "description": "The `wemd export-hf` folder on this machine, read in place like a "
                           "checked-out repository.",
            "contentUrl": str(folder), "encodingFormat": "git+https", "sha256": NO_DIGEST}


def _file_objects(base: Path, paths: list[Path], fmt: str, base_url: Optional[str]) -> list[dict[str, Any]]:
    """Each file with its size and sha256, at ``base_url`` or (default) its absolute path."""
    out = []
    for p in paths:
        rel = p.relative_to(base).as_posix()
        out.append({"@type": "cr:FileObject", "@id": rel, "name": rel, "encodingFormat": fmt,
                    "contentUrl": f"{base_url.rstrip('/')}/{rel}" if base_url else str(p.resolve()),
                    "contentSize": f"{p.stat().st_size} B", "sha256": sha256_file(p)})
    return out


def _citation(spec: DatasetSpec) -> str:
    p = spec.paper
    doi = f", doi:{p['doi']}" if p.get("doi") else ""
    return f"{p['authors']}, \"{p['title']}\", {p['journal']} ({p['year']}){doi}. Data: doi:{catalog.DATA_DOI}"


def _field(name: str, file_set: str, f: Field, **source: Any) -> dict[str, Any]:
    field: dict[str, Any] = {"@type": "cr:Field", "@id": f"{name}/{f.column}", "name": f.column,
                             "description": f.description, "dataType": f.data_type,
                             "source": {"fileSet": {"@id": file_set},
                                        **(source or {"extract": {"column": f.column}})}}
    if f.shape is not None:
        field.update({"cr:isArray": True, "cr:arrayShape": ",".join(map(str, f.shape))})
    return field


def _fields(spec: DatasetSpec, file_set: str) -> list[dict[str, Any]]:
    """The split (from the file name), the columns every row has, then the encoding's columns."""
    split = Field("split", "sc:Text", "train, validation or test (from the file name)")
    return ([_field(spec.name, file_set, split, extract={"fileProperty": "filename"},
                    transform={"regex": r"^(train|validation|test|unassigned)-\d+-of-\d+\.parquet$"})]
            + [_field(spec.name, file_set, f) for f in [*COMMON_FIELDS, *encoding_for(spec).fields()]])
