"""Hugging Face ``datasets``: exact Features per family, Parquet export with a card, publishing.

Encoding (chosen so every item round-trips bit for bit):

- 96x96 variants and focal series: ``Array3D`` float32 of the item shape.
- exit wavefunctions (complex64 320x320): ``Array3D`` float32 (320, 320, 2), real then imaginary
  part (a complex64 is exactly two float32), plus ``meta``: the simulation-record JSON as text.
- full images and 512x512 crops (float32 TIFFs, sizes vary): ``image`` is the raw little-endian
  float32 bytes and ``shape`` its (height, width). Lossless with no codec in the way (PIL's
  float-TIFF support and ``Image()`` mode casts are not), decoded with one ``np.frombuffer``,
  and Parquet compresses the bytes.
- CIFs: the file's text plus its COD id, journal and URL.

Every row also carries the native item ``id``, its ``sha256`` content digest (so the loaded
split has the native fingerprint) and its ``provenance``, which no copy can lose. Text columns
are plain strings (not ``Json``) so older ``datasets`` releases read the files too.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import yaml

from wemd import catalog
from wemd.catalog import DatasetSpec
from wemd.cards import HF_SPLIT, front_matter, render
from wemd.errors import WEMDError, require
from wemd.home import PathLike

EXPORT_FORMAT = "wemd-hf/1"
CARD = "README.md"
DEFAULT_SHARD_BYTES = 512 << 20
_ROW_GROUP_BYTES = 64 << 20


def hf_split(split: str) -> str:
    """The Hugging Face split name of a wemd split (val -> validation)."""
    return HF_SPLIT.get(split, split)


def encoding(spec: DatasetSpec) -> str:
    """How items of ``spec`` are stored: array | complex | raw | text."""
    if spec.dtype == "str":
        return "text"
    if spec.dtype == "complex64":
        return "complex"
    if spec.item_shape is None or spec.family in ("stem", "tem") and len(spec.item_shape) == 2:
        return "raw"
    return "array"


def data_column(spec: DatasetSpec) -> str:
    return {"wavefunctions": "wavefunction", "cifs": "cif"}.get(spec.family, "image")


def features(spec: DatasetSpec) -> Any:
    """The ``datasets.Features`` of one dataset's export."""
    ds = require("datasets", "hf")
    Value = ds.Value
    col, kind = data_column(spec), encoding(spec)
    cols: dict[str, Any] = {"id": Value("string"), "sha256": Value("string"),
                            "provenance": Value("string")}
    if kind == "array":
        cols[col] = _array_feature(ds, tuple(spec.item_shape))
    elif kind == "complex":
        cols[col] = _array_feature(ds, tuple(spec.item_shape) + (2,))
        cols["meta"] = Value("string")
    elif kind == "raw":
        cols[col] = Value("binary")
        cols["shape"] = ds.List(Value("int32"), length=2)
    else:
        cols.update({col: Value("string"), "cod_id": Value("string"), "journal": Value("string"),
                     "url": Value("string")})
    return ds.Features(cols)


def _array_feature(ds: Any, shape: tuple[int, ...]) -> Any:
    return {2: ds.Array2D, 3: ds.Array3D, 4: ds.Array4D}[len(shape)](shape=shape, dtype="float32")


def encode_item(spec: DatasetSpec, item: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The data columns of one native item."""
    col, kind = data_column(spec), encoding(spec)
    if kind == "array":
        return {col: np.asarray(item, dtype=np.float32)}
    if kind == "complex":
        pair = np.ascontiguousarray(np.asarray(item, dtype=np.complex64)).view(np.float32)
        path = meta.get("meta_path")
        return {col: pair.reshape(item.shape + (2,)),
                "meta": Path(path).read_text() if path else None}
    if kind == "raw":
        arr = np.asarray(item, dtype="<f4")
        return {col: np.ascontiguousarray(arr).tobytes(), "shape": list(arr.shape)}
    return {col: item, "cod_id": meta.get("cod_id"), "journal": meta.get("journal"),
            "url": meta.get("url")}


def decode_item(spec: DatasetSpec, row: dict[str, Any]) -> Any:
    """The native item from a row (numpy-formatted for array columns)."""
    col, kind = data_column(spec), encoding(spec)
    value = row[col]
    if kind == "array":
        return np.asarray(value, dtype=np.float32)
    if kind == "complex":
        return np.ascontiguousarray(value, dtype=np.float32).view(np.complex64)[..., 0]
    if kind == "raw":
        return np.frombuffer(value, dtype="<f4").reshape(tuple(row["shape"])).astype(np.float32)
    return value


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
    spec = catalog.get(name)
    splits = [catalog.canonical_split(spec, split)] if split else _splits_on_disk(name, root, source)
    out = Path(outdir)
    feats = features(spec)
    info: dict[str, Any] = {"format": EXPORT_FORMAT, "wemd_version": wemd.__version__,
                            "catalog_version": catalog.CATALOG_VERSION, "splits": {}}
    for s in splits:
        ds = wemd.load(name, s, root=root, source=source)
        info["provenance"] = ds.provenance
        _write_split(spec, ds, out / name, hf_split(s), feats, shard_bytes, progress)
        info["splits"][s] = {"hf_split": hf_split(s), "num_examples": len(ds),
                             "fingerprint": ds.fingerprint(progress=bool(progress))}
    return write_card(out, spec, feats, info)


def _splits_on_disk(name: str, root: Optional[PathLike], source: str) -> list[str]:
    if source != "local":
        return list(catalog.get(name).splits)
    from wemd.api import open_folder

    _, _, index = open_folder(name, root)
    order = list(catalog.get(name).splits)
    return sorted(index.sources, key=lambda s: order.index(s) if s in order else len(order))


def _write_split(spec: DatasetSpec, ds: Any, folder: Path, split: str, feats: Any,
                 shard_bytes: int, progress: Optional[bool]) -> None:
    from datasets.arrow_writer import ParquetWriter
    from tqdm.auto import tqdm

    from wemd.mirror import tqdm_disable

    per_shard = max(1, shard_bytes // _item_bytes(spec))
    n_shards = max(1, math.ceil(len(ds) / per_shard))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{split}-*.parquet"):
        old.unlink()  # a re-export replaces the split, shard count may differ
    with tqdm(total=len(ds), desc=f"export {spec.name}/{split}", unit="item",
              disable=tqdm_disable(progress)) as bar:
        for k in range(n_shards):
            _write_table(ParquetWriter, folder / f"{split}-{k:05d}-of-{n_shards:05d}.parquet",
                         spec, ds, k * per_shard, min(len(ds), (k + 1) * per_shard), feats, bar)


def _write_table(writer_class: Any, path: Path, spec: DatasetSpec, ds: Any, start: int,
                 stop: int, feats: Any, bar: Any) -> None:
    """Rows [start, stop) of ``ds`` into one file at ``path`` (atomically), Parquet or Arrow."""
    from wemd.files import atomic_path

    batch = max(1, _ROW_GROUP_BYTES // _item_bytes(spec))
    known = ds.manifest.files if ds.manifest else None
    with atomic_path(path) as tmp:
        writer = writer_class(path=str(tmp), features=feats, writer_batch_size=batch)
        try:
            for rows in _row_batches(spec, ds, start, stop, batch, known):
                writer.write_batch(rows)
                bar.update(len(rows["id"]))
            writer.finalize()
        finally:
            writer.close()


def _item_bytes(spec: DatasetSpec) -> int:
    if spec.item_shape is None:
        return 4 << 20  # full images vary; a few MB each
    n = int(np.prod(spec.item_shape))
    return n * (8 if spec.dtype == "complex64" else 4) if spec.dtype != "str" else 16 << 10


def _row_batches(spec: DatasetSpec, ds: Any, start: int, stop: int, batch: int,
                 known: Optional[dict]) -> Iterator[dict[str, list]]:
    for a in range(start, stop, batch):
        rows: dict[str, list] = {}
        for i in range(a, min(stop, a + batch)):
            meta = ds.metadata(i)
            row = {"id": ds.item_id(i), "sha256": ds.source.digest(i, known),
                   "provenance": ds.provenance, **encode_item(spec, ds[i], meta)}
            for key, value in row.items():
                rows.setdefault(key, []).append(value)
        yield rows


def write_card(out: Path, spec: DatasetSpec, feats: Any, info: dict[str, Any]) -> Path:
    """Write (or extend) ``out/README.md`` with this dataset's config, features and provenance."""
    from datasets import DatasetInfo, SplitDict, SplitInfo

    from wemd.files import write_text

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
    for key in ("size_categories", "tags"):
        front[key] = sorted(set(front[key]) | set(existing.get(key, [])))
    if len(exports) > 1:
        front["pretty_name"] = "WEMD: " + ", ".join(sorted(exports))
    body = render(spec, front)
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
    return parse_card((Path(folder) / CARD).read_text(), str(Path(folder) / CARD))


def parse_card(text: str, where: str) -> dict[str, Any]:
    match = re.match(r"^---\n(.*?)\n---", text, re.S)
    if not match:
        raise WEMDError(f"{where} has no YAML front matter; is it a wemd export?")
    return yaml.safe_load(match.group(1)) or {}


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

    from wemd.mirror import tqdm_disable

    spec = catalog.get(name)
    splits = [catalog.canonical_split(spec, split)] if split else _splits_on_disk(name, root, source)
    folder = Path(cache_dir or Path(datasets.config.HF_DATASETS_CACHE) / "wemd") / name
    feats = features(spec)
    out = {}
    for s in splits:
        ds = wemd.load(name, s, root=root, source=source)
        path = folder / f"{hf_split(s)}.arrow"
        with tqdm(total=len(ds), desc=f"{name}/{hf_split(s)} -> Arrow", unit="item",
                  disable=tqdm_disable(progress)) as bar:
            _write_table(ArrowWriter, path, spec, ds, 0, len(ds), feats, bar)
        info = datasets.DatasetInfo(
            description=f"WEMD {name} ({ds.provenance} data), converted by wemd {wemd.__version__}",
            license=catalog.LICENSE, homepage=catalog.LANDING_PAGE, features=feats)
        out[hf_split(s)] = datasets.Dataset.from_file(str(path), info=info, split=hf_split(s))
    return datasets.DatasetDict(out)


def hf_token(token: Optional[str] = None) -> str:
    """The Hub token: ``token``, else ``$HF_TOKEN``, else a clear error."""
    token = token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        raise WEMDError("Publishing needs a Hugging Face token with write access: create one at "
                        "https://huggingface.co/settings/tokens and set HF_TOKEN=... (it is never "
                        "asked for interactively).")
    return token


def publish(name: str, repo: str, folder: Optional[PathLike] = None, *, token: Optional[str] = None,
            private: bool = False, dry_run: bool = False, root: Optional[PathLike] = None,
            progress: Optional[bool] = None) -> dict[str, Any]:
    """Upload an export of ``name`` (``folder``, or a fresh one) to the Hub dataset ``repo``.

    Returns the plan (repo, folder, files); with ``dry_run`` nothing is uploaded. The upload
    uses ``huggingface_hub.HfApi.upload_folder``.
    """
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise WEMDError(f"--repo must look like ORG/NAME, not {repo!r}.")
    token = hf_token(token)
    hub = require("huggingface_hub", "hf")
    tmp = None
    if folder is None:
        tmp = Path(tempfile.mkdtemp(prefix=f"wemd-publish-{name}-"))
        folder = export_hf(name, tmp, root=root, progress=progress).parent
    folder = Path(folder)
    try:
        if name not in read_card(folder).get("wemd_exports", {}):
            raise WEMDError(f"{folder} holds no export of {name}; run `wemd export-hf {name} "
                            f"{folder}` first.")
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        plan = {"repo": repo, "folder": str(folder), "files": files, "private": private}
        if not dry_run:
            api = hub.HfApi(token=token)
            api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
            commit = api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=str(folder),
                                       allow_patterns=[CARD, f"{name}/*"],
                                       commit_message=f"wemd export of {name}")
            plan["commit"] = str(commit)
        return plan
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def export_info(name: str, repo: PathLike, revision: Optional[str] = None) -> tuple[dict[str, Any], Path]:
    """The ``wemd_exports`` entry of ``name`` in a local export folder or a Hub repo's card."""
    path = Path(repo).expanduser()
    if path.is_dir():
        card, where = read_card(path), path
    elif not re.fullmatch(r"[\w.-]+/[\w.-]+", str(repo)) or str(repo).startswith("."):
        raise WEMDError(f"{repo} is neither an export folder nor a Hub dataset id ORG/NAME.")
    else:
        hub = require("huggingface_hub", "hf")
        try:
            file = hub.hf_hub_download(str(repo), CARD, repo_type="dataset", revision=revision)
        except Exception as exc:  # offline, unknown repo, no access: all end here
            raise WEMDError(f"Could not read the card of Hub dataset {repo} ({type(exc).__name__}: "
                            f"{exc}); check the name, your network and HF_HUB_OFFLINE.") from exc
        card, where = parse_card(Path(file).read_text(), f"{repo}/{CARD}"), Path(file).parent
    entry = card.get("wemd_exports", {}).get(name)
    if entry is None or entry.get("format") != EXPORT_FORMAT:
        raise WEMDError(f"{repo} has no wemd export of {name} (its card lists "
                        f"{', '.join(card.get('wemd_exports', {})) or 'none'}); export it with "
                        f"`wemd export-hf {name} DIR`.")
    return entry, where


def row_meta(row: dict[str, Any]) -> dict[str, Any]:
    """The simulation record of a wavefunction row, parsed (empty dict if it has none)."""
    return json.loads(row["meta"]) if row.get("meta") else {}
