"""Search a 96x96 dataset for the images nearest a query (thesis ch. 2's proposed search engine):
Euclidean nearest neighbours of PCA components or VAE means.

A query of any size is brought to the dataset's form first (centre square crop, then a bilinear
anti-aliased resize to 96x96, as the wavefunction variants were made). The index (embedding
model plus the means of every item) is built once and cached under the data home in
``.wemd-index/{dataset}/{split}/{key}/``, keyed by the split's fingerprint and the embedding,
so a changed dataset or embedding never reuses a stale index. By default (``method="auto"``) a
search uses a VAE index of the split that is already cached, else PCA, which builds in seconds;
training the VAE (minutes on a CPU, with a progress bar and time left) is ``method="vae"``.
Each hit names its split position (``test[17]``, what ``wemd.load(name, "test")[17]`` returns)
beside its file or array row.

>>> from wemd.viz.search import search      # also importable as wemd.search
>>> hits = search("my_image.tif", dataset="stem_96x96", k=5)       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from wemd import catalog
from wemd.files import atomic_path, write_json
from wemd.errors import WEMDError
from wemd.home import PathLike, data_home
from wemd.viz.embed import (SIZE, Embedding, as_images, embed, load_embedding, load_images,
                            save_embedding)
from wemd.viz.vae import VAEConfig

__all__ = ["INDEX_DIR", "INDEX_VERSION", "METHODS", "ImageLike", "Hit", "SearchError",
           "SearchIndex", "build_index", "cached_index", "index_cache_dir", "read_image",
           "results_figure", "search", "split_item", "to_dataset_form", "write_results_png"]

INDEX_DIR = ".wemd-index"
INDEX_VERSION = 1
ImageLike = Union[str, Path, np.ndarray]
#: ``auto``: a cached VAE index of the split if there is one, else PCA (never trains a VAE).
METHODS = ("auto", "pca", "vae")


class SearchError(WEMDError, ValueError):
    """A query or index that cannot be used."""


@dataclass
class Hit:
    """One search result: where the item is, its id, and its distance in latent space.

    ``position`` counts in the split searched; ``split_item`` (``"test[17]"``) names the item as
    ``wemd.load(name, "test")[17]``; ``item_id`` is its file or array row; ``method`` the embedding.
    """

    rank: int
    position: int
    item_id: str
    distance: float
    metadata: dict[str, Any] = field(default_factory=dict)
    split_item: str = ""
    method: str = ""


def read_image(path: PathLike) -> np.ndarray:
    """Read a TIFF, NumPy (.npy) or ordinary (PNG, JPEG, ...) image file."""
    path = Path(path)
    if not path.is_file():
        raise SearchError(f"query image {path} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            return np.asarray(tifffile.imread(path))
        if suffix == ".npy":
            return np.load(path)
        from PIL import Image

        return np.asarray(Image.open(path))
    except Exception as exc:  # unreadable input: say which file and why
        raise SearchError(f"cannot read query image {path}: {exc}") from exc


def to_dataset_form(image: ImageLike, dataset: str) -> np.ndarray:
    """Bring one image of any size to an item of ``dataset``: [96, 96, C] float32.

    Grey [H, W] or [H, W, 1], RGB(A) [H, W, 3|4] (luminance), complex [H, W] or [H, W, 2]
    (real, imaginary) wavefunctions. Non-square inputs are centre-cropped to a square.
    """
    spec = catalog.get(dataset)
    x = read_image(image) if isinstance(image, (str, Path)) else np.asarray(image)
    channels = spec.item_shape[-1]
    if x.ndim == 3 and x.shape[-1] in (3, 4) and channels == 1:
        x = x[..., :3].astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])
    if np.iscomplexobj(x):
        x = np.stack([x.real, x.imag], axis=-1)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or x.shape[-1] != channels or min(x.shape[:2]) < 2:
        want = "a complex image or [H, W, 2] real/imaginary" if channels == 2 else "a grey image"
        raise SearchError(f"{dataset} holds {spec.item_shape} items; the query must be {want}, "
                          f"got shape {x.shape}.")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise SearchError("the query image contains NaN or infinite values.")
    h, w = x.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    x = x[top:top + side, left:left + side]
    if side != SIZE:
        from skimage.transform import resize

        x = resize(x, (SIZE, SIZE, channels), order=1, anti_aliasing=side > SIZE,
                   preserve_range=True).astype(np.float32)
    return x


@dataclass
class SearchIndex:
    """Latent means of every item of one split, with the encoder that maps queries alike."""

    dataset: str
    split: str
    method: str
    view: str
    fingerprint: str
    embedding: Embedding
    item_ids: list[str]
    folder: Path
    cached: bool = False

    @property
    def provenance(self) -> str:
        return self.fingerprint.split(":", 1)[0]

    def query(self, picture: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Positions and Euclidean distances of the k nearest items to one [96, 96] picture."""
        q, _ = self.embedding.encoder.encode(np.asarray(picture, dtype=np.float32)[None])
        m = self.embedding.means
        # the difference itself, in float64: |m|^2 - 2 m.q + |q|^2 in float32 cancels to noise
        # of ~1e-2 for an exact copy, which can reorder near neighbours
        d = np.linalg.norm(m.astype(np.float64) - q[0].astype(np.float64), axis=1)
        k = min(k, len(m))
        idx = np.argpartition(d, k - 1)[:k]
        idx = idx[np.argsort(d[idx], kind="stable")]
        return idx, d[idx]


def _split_indexes(dataset: Any, root: Optional[PathLike]) -> Path:
    """The folder holding every index of one split (a dataset folder given as root keeps its
    hidden indexes inside it)."""
    return data_home(root) / INDEX_DIR / dataset.name / dataset.split


def index_cache_dir(dataset: Any, method: str, view: str, fingerprint: str,
                 vae: Optional[VAEConfig], root: Optional[PathLike]) -> Path:
    """Where the index of this split, embedding and content lives under the data home."""
    settings = json.dumps({"v": INDEX_VERSION, "method": method, "view": view,
                           "vae": asdict(vae) if method == "vae" and vae else None}, sort_keys=True)
    key = hashlib.sha256(f"{settings}|{fingerprint}".encode()).hexdigest()[:20]
    return _split_indexes(dataset, root) / f"{method}-{view}-{key}"


def _open_index(dataset: Any, folder: Path, fingerprint: str) -> Optional[SearchIndex]:
    """The finished index in ``folder`` if it was built from exactly these items, else None."""
    try:
        info = json.loads((folder / "index.json").read_text())
    except (OSError, ValueError):
        return None  # not finished (index.json is written last) or not an index
    if info.get("fingerprint") != fingerprint:
        return None
    return SearchIndex(dataset.name, dataset.split, info["method"], info["view"], fingerprint,
                       load_embedding(folder), info["item_ids"], folder, cached=True)


def cached_index(dataset: Any, method: str, fingerprint: str, *, view: str = "amplitude",
                 root: Optional[PathLike] = None) -> Optional[SearchIndex]:
    """The newest cached ``method`` index of this split's exact items (``fingerprint``) and view,
    whatever settings built it (iterations, width, ...), or None."""
    folders = sorted(_split_indexes(dataset, root).glob(f"{method}-{view}-*"),
                     key=lambda f: f.stat().st_mtime_ns, reverse=True)
    return next((ix for f in folders if (ix := _open_index(dataset, f, fingerprint))), None)


def build_index(dataset: Any, method: str = "pca", *, view: str = "amplitude",
                vae: Optional[VAEConfig] = None, root: Optional[PathLike] = None,
                rebuild: bool = False, progress: bool = True,
                fingerprint: Optional[str] = None) -> SearchIndex:
    """Embed every item of a 96x96 split once and cache it; later calls read the cache.

    ``fingerprint``: the split's, when the caller has it already (else it is computed).
    """
    if method == "vae":
        vae = vae or VAEConfig()
    fingerprint = fingerprint or dataset.fingerprint(progress=progress)
    folder = index_cache_dir(dataset, method, view, fingerprint, vae, root)
    cached = None if rebuild else _open_index(dataset, folder, fingerprint)
    if cached is not None:
        return cached
    images = load_images(dataset, view, progress=progress)
    emb = embed(images, method, vae=vae, progress=progress)
    save_embedding(emb, folder)
    ids = [dataset.item_id(i) for i in range(len(dataset))]
    write_json(folder / "index.json", {"dataset": dataset.name, "split": dataset.split,
                                       "method": method, "view": view, "fingerprint": fingerprint,
                                       "item_ids": ids})  # written last: marks the index finished
    return SearchIndex(dataset.name, dataset.split, method, view, fingerprint, emb, ids, folder)


def split_item(dataset: Any, position: int, split: str) -> str:
    """``"test[17]"``: item ``position`` of ``dataset`` is ``wemd.load(name, "test")[17]``.

    ``split`` is the split the item's metadata names; ``split="all"`` holds the splits one after
    another, so the item's place in its own split is counted from where that split starts.
    """
    start = 0
    if dataset.split == "all":
        source = dataset.source
        start = int(source.offsets[source.names.index(split)])
    return f"{split}[{position - start}]"


def search(image: ImageLike, dataset: str = "stem_96x96", k: int = 5, *, split: str = "all",
           method: str = "auto", view: str = "amplitude", root: Optional[PathLike] = None,
           source: str = "local", out: Optional[PathLike] = None, vae: Optional[VAEConfig] = None,
           rebuild: bool = False, progress: bool = True) -> list[Hit]:
    """The ``k`` items of ``dataset`` nearest ``image`` (a path or an array of any size).

    ``method``: "auto" (a cached VAE index of this split, else PCA: never trains), "pca" or
    "vae" (the paper's search engine; trains ``vae`` settings on first use, then cached).
    ``out`` writes a PNG of the query beside its hits.
    """
    import wemd

    if k < 1:
        raise SearchError(f"k must be at least 1, got {k}.")
    if method not in METHODS:
        raise SearchError(f"method must be one of {', '.join(METHODS)}, not {method!r}.")
    item = to_dataset_form(image, dataset)
    ds = wemd.load(dataset, split, root=root, source=source)
    fingerprint = ds.fingerprint(progress=progress)
    index = None
    if method == "auto" and not rebuild:
        index = cached_index(ds, "vae", fingerprint, view=view, root=root)
    if index is None:
        index = build_index(ds, "pca" if method == "auto" else method, view=view, vae=vae,
                            root=root, rebuild=rebuild, progress=progress, fingerprint=fingerprint)
    picture = as_images(item[None], view)[0]
    positions, distances = index.query(picture, k)
    hits = []
    for rank, (p, d) in enumerate(zip(positions.tolist(), distances), 1):
        meta = ds.metadata(p)
        hits.append(Hit(rank, p, index.item_ids[p], float(d), meta,
                        split_item(ds, p, meta["split"]), index.method))
    if out is not None:
        shown = load_images(ds, view, positions, progress=False)
        write_results_png(picture, shown, hits, Path(out),
                          f"{dataset}/{split} nearest by {index.method.upper()} "
                          + ("" if index.provenance == "real"
                             else f"[{index.provenance} data, not the real WEMD]"))
    return hits


def write_results_png(query: np.ndarray, images: np.ndarray, hits: list[Hit], out: Path,
                      title: str = "") -> Path:
    """Write :func:`results_figure` as a PNG (atomically)."""
    if out.suffix.lower() != ".png":
        raise SearchError(f"search results are written as PNG; name the output *.png, not {out.name!r}")
    fig = results_figure(query, images, hits, title)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out


def results_figure(query: np.ndarray, images: np.ndarray, hits: list[Hit], title: str = "") -> Any:
    """The query and its hits side by side, each captioned with rank, split position, file or
    row id and distance (a matplotlib Figure)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(hits) + 1
    fig = Figure(figsize=(2.4 * n, 3.3), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    panels = [(query, "query")] + [
        (img, f"#{h.rank} {h.split_item}\n{h.item_id}\nd = {h.distance:.3g}")
        for img, h in zip(images, hits)]
    for ax, (img, caption) in zip(axes, panels):
        ax.imshow(img, cmap="gray", interpolation="nearest")
        ax.set_title(caption, fontsize=8)
        ax.set(xticks=[], yticks=[])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig
