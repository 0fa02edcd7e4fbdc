"""Embeddings of the 96x96 datasets: what every method shares, PCA (50 components), and dispatch.

Both methods see the same images: each item as one 2-D picture (wavefunctions as amplitude or
phase), min-max scaled to [0, 1]. An :class:`Embedding` holds per-item latent means (and, for the
VAE, standard deviations) plus an encoder that maps new images into the same space (for search).
The paper's VAE (thesis ch. 2) lives in :mod:`wemd.viz.vae`; :func:`embed` and
:func:`load_embedding` import it only when a VAE is asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol, Sequence

import numpy as np

from wemd.files import atomic_path, save_npy, write_json
from wemd.errors import WEMDError, require

if TYPE_CHECKING:
    from wemd.viz.vae import VAEConfig

#: Side length every embedded image has (the 96x96 variants).
SIZE = 96
VIEWS = ("amplitude", "phase", "real", "imaginary")


class EmbeddingError(WEMDError, ValueError):
    """Images or an embedding model that cannot be used as asked."""


# ---------------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------------

def as_images(items: np.ndarray, view: str = "amplitude") -> np.ndarray:
    """Dataset items -> float32 [N, H, W] pictures.

    Accepts [N, H, W], [N, H, W, 1], two-channel wavefunctions [N, H, W, 2] (real, imaginary) or
    complex [N, H, W]; ``view`` picks amplitude, phase, real or imaginary part of a wavefunction.
    """
    x = np.asarray(items)
    if view not in VIEWS:
        raise EmbeddingError(f"view must be one of {', '.join(VIEWS)}, not {view!r}.")
    if x.ndim == 4 and x.shape[-1] == 2 and not np.iscomplexobj(x):
        x = x[..., 0] + 1j * x[..., 1].astype(np.complex64)
    elif x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3:
        raise EmbeddingError(f"expected images shaped [N, H, W], [N, H, W, 1] or [N, H, W, 2], "
                             f"got {x.shape}.")
    if np.iscomplexobj(x):
        x = {"amplitude": np.abs, "phase": np.angle, "real": np.real, "imaginary": np.imag}[view](x)
    return np.asarray(x, dtype=np.float32)


def minmax(images: np.ndarray) -> np.ndarray:
    """Scale each image linearly to [0, 1] (constant images become 0), as the paper's VAE input."""
    x = np.asarray(images, dtype=np.float32)
    flat = x.reshape(len(x), -1)
    lo = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - lo
    out = np.divide(flat - lo, span, out=np.zeros_like(flat), where=span > 0)
    return out.reshape(x.shape)


def check_images(images: np.ndarray) -> np.ndarray:
    """Validate [N, 96, 96] finite images and return them as float32 (shared by every encoder)."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 3 or x.shape[1:] != (SIZE, SIZE):
        raise EmbeddingError(f"embeddings take [N, {SIZE}, {SIZE}] images, got {x.shape}; bring "
                             "other sizes to the dataset form first (wemd.viz.search.to_dataset_form).")
    if not np.all(np.isfinite(x)):
        raise EmbeddingError("images contain NaN or infinite values.")
    return x


# ---------------------------------------------------------------------------------------------
# encoders
# ---------------------------------------------------------------------------------------------

class Encoder(Protocol):
    """What PCA and VAE encoders share: map [N, 96, 96] images to (means, sigmas or None)."""

    method: str

    def encode(self, images: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]: ...

    def save(self, folder: Path) -> None: ...


@dataclass
class Embedding:
    """Latent means (and VAE standard deviations) of N images, and the encoder that made them."""

    method: str
    means: np.ndarray
    sigmas: Optional[np.ndarray]
    encoder: Encoder

    def __len__(self) -> int:
        return len(self.means)


class PCAEncoder:
    """Projection on the first principal components of min-max scaled images."""

    method = "pca"

    def __init__(self, components: np.ndarray, mean: np.ndarray, explained_variance_ratio: np.ndarray):
        self.components = np.asarray(components, dtype=np.float32)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.explained_variance_ratio = np.asarray(explained_variance_ratio, dtype=np.float64)

    def encode(self, images: np.ndarray) -> tuple[np.ndarray, None]:
        flat = minmax(check_images(images)).reshape(len(images), -1)
        return (flat - self.mean) @ self.components.T, None

    def save(self, folder: Path) -> None:
        with atomic_path(Path(folder) / "pca.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, components=self.components, mean=self.mean,
                         explained_variance_ratio=self.explained_variance_ratio)

    @classmethod
    def load(cls, folder: Path) -> "PCAEncoder":
        with np.load(Path(folder) / "pca.npz") as z:
            return cls(z["components"], z["mean"], z["explained_variance_ratio"])


def fit_pca(images: np.ndarray, n_components: int = 50, seed: int = 0) -> Embedding:
    """The paper's PCA baseline: scikit-learn (probabilistic) PCA to ``n_components``."""
    decomposition = require("sklearn.decomposition", "viz")
    x = minmax(check_images(images)).reshape(len(images), -1)
    n = min(n_components, len(x), x.shape[1])
    if n < 2:
        raise EmbeddingError(f"PCA needs at least 2 images, got {len(x)}.")
    pca = decomposition.PCA(n_components=n, random_state=seed).fit(x)
    enc = PCAEncoder(pca.components_, pca.mean_, pca.explained_variance_ratio_)
    return Embedding("pca", enc.encode(images)[0], None, enc)


# ---------------------------------------------------------------------------------------------
# dispatch and persistence
# ---------------------------------------------------------------------------------------------

METHODS = ("pca", "vae")


def embed(images: np.ndarray, method: str = "pca", *, n_components: int = 50,
          vae: Optional[VAEConfig] = None, seed: int = 0, progress: bool = True) -> Embedding:
    """Embed [N, 96, 96] images by ``"pca"`` (50 components) or the paper's ``"vae"``."""
    if method == "pca":
        return fit_pca(images, n_components, seed)
    if method == "vae":
        from wemd.viz.vae import VAEConfig, train_vae  # lazy: wemd.viz.vae imports this module

        return train_vae(images, vae or VAEConfig(seed=seed), progress)
    raise EmbeddingError(f"embedding must be one of {', '.join(METHODS)}, not {method!r}.")


def save_embedding(emb: Embedding, folder: Path) -> Path:
    """Write means (and sigmas) as .npy plus the encoder, atomically, into ``folder``."""
    folder = Path(folder)
    save_npy(folder / "means.npy", emb.means)
    if emb.sigmas is not None:
        save_npy(folder / "sigmas.npy", emb.sigmas)
    emb.encoder.save(folder)
    write_json(folder / "embedding.json", {"method": emb.method, "n": len(emb)})
    return folder


def load_embedding(folder: Path) -> Embedding:
    """Read what :func:`save_embedding` wrote."""
    folder = Path(folder)
    method = json.loads((folder / "embedding.json").read_text())["method"]
    from wemd.viz.vae import VAEEncoder  # lazy: wemd.viz.vae imports this module

    encoder = {"pca": PCAEncoder, "vae": VAEEncoder}[method].load(folder)
    sig = folder / "sigmas.npy"
    return Embedding(method, np.load(folder / "means.npy"),
                     np.load(sig) if sig.exists() else None, encoder)


def load_images(dataset: Any, view: str = "amplitude", positions: Optional[Sequence[int]] = None,
                chunk: int = 2048, progress: bool = True) -> np.ndarray:
    """Read a 96x96 split (or some positions of it) as float32 [N, 96, 96] pictures."""
    from tqdm.auto import tqdm

    shape = dataset.spec.item_shape
    if shape is None or tuple(shape[:2]) != (SIZE, SIZE):
        raise EmbeddingError(f"{dataset.name} has items of shape {shape}; maps, the explorer and "
                             "search work on the 96x96 variants (wemd list shows them).")
    idx = np.arange(len(dataset)) if positions is None else np.asarray(positions, dtype=np.int64)
    out = np.empty((len(idx), SIZE, SIZE), dtype=np.float32)
    for a in tqdm(range(0, len(idx), chunk), desc=f"read {dataset.name}/{dataset.split}",
                  disable=not progress or len(idx) <= chunk, unit="chunk"):
        out[a:a + chunk] = as_images(dataset[idx[a:a + chunk]], view)
    return out
