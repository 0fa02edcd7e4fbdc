"""Writing Hugging Face exports: Parquet shards with a card, and ``to_hf``'s Arrow files.

How each dataset's items become row values is ``wemd.export.encoding``; uploading an export to
the Hub is ``wemd.export.hub``. The card's YAML (``read_card``, ``export_info``) is how a reader
finds an export's splits, provenance and native fingerprints.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

from wemd import catalog
from wemd.cards import copy_kind, copy_label, front_matter, hf_split, render, size_category
from wemd.catalog import DatasetSpec
from wemd.errors import WEMDError, require
from wemd.export.encoding import Encoding, encoding_for
from wemd.files import atomic_path, write_text
from wemd.home import PathLike
from wemd.loaders.sources import data_digest

#: /2: rows carry ``data_sha256`` (the reader checks every row against it)
EXPORT_FORMAT = "wemd-hf/2"
CARD = "README.md"
DEFAULT_SHARD_BYTES = 512 << 20
_ROW_GROUP_BYTES = 64 << 20
#: a Hub dataset id, ORG/NAME
REPO_ID = r"[\w.-]+/[\w.-]+"


def export_hf(name: str, outdir: PathLike, split: Optional[str] = None, *,
              root: Optional[PathLike] = None, source: str = "local",
              shard_bytes: int = DEFAULT_SHARD_BYTES, progress: Optional[bool] = None) -> Path:
    """Write ``outdir/name/{split}-XXXXX-of-NNNNN.parquet`` and the card ``outdir/README.md``.

    The card's YAML names one config per dataset (``datasets.load_dataset(outdir, name)``),
    its features and split sizes, and under ``wemd_exports`` the provenance and the native
    fingerprint of every split. Exporting another dataset into the same folder adds a config.
    """
    import wemd

    require("datasets", "hf")
    spec = catalog.get(name, root)
    splits = [catalog.canonical_split(spec, split)] if split else _splits_on_disk(name, root, source)
    out = Path(outdir)
    enc = encoding_for(spec)
    feats = enc.features()
    info: dict[str, Any] = {"format": EXPORT_FORMAT, "wemd_version": wemd.__version__,
                            "catalog_version": catalog.CATALOG_VERSION, "splits": {}}
    for s in splits:
        ds = wemd.load(name, s, root=root, source=source)
        info["provenance"] = ds.provenance
        digests = _write_split(enc, ds, out / name, hf_split(s), feats, shard_bytes, progress)
        info["splits"][s] = {"hf_split": hf_split(s), "num_examples": len(ds),
                             "fingerprint": ds.fingerprint(digests=digests)}
    return write_card(out, spec, feats, info)


def _splits_on_disk(name: str, root: Optional[PathLike], source: str) -> list[str]:
    if source != "local":
        return list(catalog.get(name).splits)
    from wemd.api import open_folder

    _, _, index = open_folder(name, root)
    return sorted(index.sources, key=catalog.split_rank)


def _write_split(enc: Encoding, ds: Any, folder: Path, split: str, feats: Any,
                 shard_bytes: int, progress: Optional[bool]) -> list[str]:
    """Write one split's shards; returns every item's digest, hashed from the bytes it read."""
    from datasets.arrow_writer import ParquetWriter
    from tqdm.auto import tqdm

    from wemd.fetch import tqdm_disable

    per_shard = max(1, shard_bytes // enc.item_bytes)
    n_shards = max(1, math.ceil(len(ds) / per_shard))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{split}-*.parquet"):
        old.unlink()  # a re-export replaces the split, shard count may differ
    digests: list[str] = []
    with tqdm(total=len(ds), desc=f"export {ds.name}/{split}", unit="item",
              disable=tqdm_disable(progress)) as bar:
        for k in range(n_shards):
            path = folder / f"{split}-{k:05d}-of-{n_shards:05d}.parquet"
            digests += _write_table(ParquetWriter, path, enc, ds, k * per_shard,
                                    min(len(ds), (k + 1) * per_shard), feats, bar)
    return digests


def _write_table(writer_class: Any, path: Path, enc: Encoding, ds: Any, start: int,
                 stop: int, feats: Any, bar: Any) -> list[str]:
    """Rows [start, stop) of ``ds`` into one file at ``path`` (atomically), Parquet or Arrow;
    returns the rows' ``sha256`` digests."""
    batch = max(1, _ROW_GROUP_BYTES // enc.item_bytes)
    digests: list[str] = []
    with atomic_path(path) as tmp:
        writer = writer_class(path=str(tmp), features=feats, writer_batch_size=batch)
        try:
            for rows in _row_batches(enc, ds, start, stop, batch):
                writer.write_batch(rows)
                digests += rows["sha256"]
                bar.update(len(rows["id"]))
            writer.finalize()
        finally:
            writer.close()
    return digests


def _row_batches(enc: Encoding, ds: Any, start: int, stop: int,
                 batch: int) -> Iterator[dict[str, list]]:
    """Rows of ``batch`` items; each item is read once, and its digests hashed from that read."""
    for a in range(start, stop, batch):
        rows: dict[str, list] = {}
        for i in range(a, min(stop, a + batch)):
            item, digest = ds.source.get_with_digest(i)
            row = {"id": ds.item_id(i), "sha256": digest, "data_sha256": data_digest(item),
                   "provenance": ds.provenance, **enc.encode(item, ds.metadata(i))}
            for key, value in row.items():
                rows.setdefault(key, []).append(value)
        yield rows


def write_card(out: Path, spec: DatasetSpec, feats: Any, info: dict[str, Any]) -> Path:
    """Write (or extend) ``out/README.md`` with this dataset's config, features and provenance.

    Title, first lines, split table and size category describe what was exported: a synthetic,
    simulated or partial export says what it is and gives its own counts, never the published ones.
    """
    from datasets import DatasetInfo, SplitDict, SplitInfo

    existing = read_card(out) if (out / CARD).is_file() else {}
    front = front_matter(spec)
    info = {**info, "dataset": front.pop("wemd")}  # the catalog entry, one per exported dataset
    config = {"config_name": spec.name,
              "data_files": [{"split": v["hf_split"], "path": f"{spec.name}/{v['hf_split']}-*.parquet"}
                             for v in info["splits"].values()]}
    ds_info = DatasetInfo(features=feats, config_name=spec.name, splits=SplitDict(
        {v["hf_split"]: SplitInfo(v["hf_split"], num_examples=v["num_examples"])
         for v in info["splits"].values()}))._to_yaml_dict()
    others = [c for c in existing.get("configs", []) if c.get("config_name") != spec.name]
    other_infos = [c for c in _as_list(existing.get("dataset_info")) if c.get("config_name") != spec.name]
    exports = {**existing.get("wemd_exports", {}), spec.name: info}
    front["configs"] = sorted(others + [config], key=lambda c: c["config_name"])
    front["dataset_info"] = sorted(other_infos + [ds_info], key=lambda c: c["config_name"])
    front["wemd_exports"] = exports
    counts = {n: {s: v["num_examples"] for s, v in e["splits"].items()} for n, e in exports.items()}
    kinds = {n: copy_kind(catalog.get(n), e["provenance"], counts[n]) for n, e in exports.items()}
    names = [n + (f" ({copy_label(k)})" if k != "real" else "") for n, k in sorted(kinds.items())]
    front["pretty_name"] = ("WEMD " if len(names) == 1 else "WEMD: ") + ", ".join(names)
    front["size_categories"] = [size_category(sum(sum(c.values()) for c in counts.values()))]
    families = {catalog.get(n).family for n in exports}
    front["tags"] = sorted(set(front["tags"]) | families | (set(kinds.values()) - {"real"}))
    body = render(spec, front, provenance=info["provenance"], counts=counts[spec.name])
    listing = "\n".join(f"- `{n}` ({e['provenance']} data): "
                        + ", ".join(f"{v['hf_split']} {v['num_examples']}" for v in e["splits"].values())
                        for n, e in sorted(exports.items()))
    body += (f"\n## Files in this repository\n{listing}\n\n```python\nimport datasets\n"
             f"ds = datasets.load_dataset(REPO, {spec.name!r}, split=\"test\")\n"
             f"import wemd  # the same items, bit for bit, as the native loader\n"
             f"ds = wemd.load({spec.name!r}, \"test\", source=\"hf\", repo=REPO)\n```\n")
    return write_text(out / CARD, body)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value] if value else []


def read_card(folder: Path) -> dict[str, Any]:
    """The YAML front matter of ``folder/README.md``."""
    path = Path(folder) / CARD
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WEMDError(f"{path} is not UTF-8 text ({exc}); is it a wemd export?") from exc
    return parse_card(text, str(path))


def parse_card(text: str, where: str) -> dict[str, Any]:
    """The YAML front matter of a card's text, which must be a mapping."""
    match = re.match(r"^---\n(.*?)\n---", text, re.S)
    if not match:
        raise WEMDError(f"{where} has no YAML front matter; is it a wemd export?")
    try:
        front = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise WEMDError(f"{where}: its YAML front matter is not valid YAML ({exc}).") from exc
    if not isinstance(front, dict):
        raise WEMDError(f"{where}: its YAML front matter must be a mapping, not a {type(front).__name__}.")
    return front


def to_hf(name: str, split: Optional[str] = None, root: Optional[PathLike] = None,
          source: str = "local", cache_dir: Optional[PathLike] = None,
          progress: Optional[bool] = None) -> Any:
    """A ``datasets.DatasetDict`` (train / validation / test) of ``name`` with exact Features.

    The rows and features are those ``export-hf`` publishes, written as one memory-mapped Arrow
    file per split at ``{cache_dir}/{name}/{split}.arrow`` (default ``cache_dir``: the
    ``datasets`` cache's ``wemd`` folder). Each call replaces those files, so repeated calls
    never pile up copies of the data.
    """
    import wemd

    datasets = require("datasets", "hf")
    from datasets.arrow_writer import ArrowWriter
    from tqdm.auto import tqdm

    from wemd.fetch import tqdm_disable

    spec = catalog.get(name, root)
    splits = [catalog.canonical_split(spec, split)] if split else _splits_on_disk(name, root, source)
    folder = Path(cache_dir or Path(datasets.config.HF_DATASETS_CACHE) / "wemd") / name
    enc = encoding_for(spec)
    feats = enc.features()
    out = {}
    for s in splits:
        ds = wemd.load(name, s, root=root, source=source)
        path = folder / f"{hf_split(s)}.arrow"
        with tqdm(total=len(ds), desc=f"{name}/{hf_split(s)} -> Arrow", unit="item",
                  disable=tqdm_disable(progress)) as bar:
            _write_table(ArrowWriter, path, enc, ds, 0, len(ds), feats, bar)
        info = datasets.DatasetInfo(
            description=f"WEMD {name} ({ds.provenance} data), converted by wemd {wemd.__version__}",
            license=catalog.LICENSE, homepage=catalog.LANDING_PAGE, features=feats)
        out[hf_split(s)] = datasets.Dataset.from_file(str(path), info=info, split=hf_split(s))
    return datasets.DatasetDict(out)


def export_info(name: str, repo: PathLike, revision: Optional[str] = None) -> tuple[dict[str, Any], Path]:
    """The ``wemd_exports`` entry of ``name`` in a local export folder or a Hub repo's card."""
    path = Path(repo).expanduser()
    if path.is_dir():
        card, where = read_card(path), path
    elif not re.fullmatch(REPO_ID, str(repo)) or str(repo).startswith("."):
        raise WEMDError(f"{repo} is neither an export folder nor a Hub dataset id ORG/NAME.")
    else:
        hub = require("huggingface_hub", "hf")
        try:
            file = hub.hf_hub_download(str(repo), CARD, repo_type="dataset", revision=revision)
        except Exception as exc:  # offline, unknown repo, no access: all end here
            raise WEMDError(f"Could not read the card of Hub dataset {repo} ({type(exc).__name__}: "
                            f"{exc}); check the name, your network and HF_HUB_OFFLINE.") from exc
        card, where = parse_card(Path(file).read_text(), f"{repo}/{CARD}"), Path(file).parent
    exports = card.get("wemd_exports")
    entry = exports.get(name) if isinstance(exports, dict) else None
    if not isinstance(entry, dict):
        raise WEMDError(f"{repo} has no wemd export of {name} (its card lists "
                        f"{', '.join(exports) if isinstance(exports, dict) and exports else 'none'}); "
                        f"export it with `wemd export-hf {name} DIR`.")
    return _checked_entry(entry, f"{repo}: the card's export of {name}",
                          f"re-export it with `wemd export-hf {name} DIR`"), where


def _checked_entry(entry: dict[str, Any], what: str, fix: str) -> dict[str, Any]:
    """A card's ``wemd_exports`` entry, or WEMDError saying what in it a reader cannot use."""
    from wemd.manifest import PROVENANCES

    if entry.get("format") != EXPORT_FORMAT:
        raise WEMDError(f"{what} has format {entry.get('format')!r}; this wemd reads "
                        f"{EXPORT_FORMAT}: {fix}.")
    if entry.get("provenance") not in PROVENANCES:
        raise WEMDError(f"{what} gives provenance {entry.get('provenance')!r}, not one of "
                        f"{', '.join(PROVENANCES)}: {fix}.")
    splits = entry.get("splits")
    if not (isinstance(splits, dict) and all(
            isinstance(v, dict) and isinstance(v.get("num_examples"), int) for v in splits.values())):
        raise WEMDError(f"{what} must map each split to its 'num_examples': {fix}.")
    return entry

