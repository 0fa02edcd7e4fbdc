"""Two-dimensional tSNE maps of embeddings with openTSNE, the paper's sigma-aware affinities, and
numbers that say how well a map keeps neighbourhoods.

Perplexity defaults to sqrt(N) as in the paper (capped at (N - 1) / 3, the most a
nearest-neighbour affinity can hold); gradients use openTSNE's FFT interpolation from 10000 points
(the full datasets) and Barnes-Hut below, where FFT's fixed grid cost dominates. The
sigma-aware variant (paper eqs 14-15) replaces squared Euclidean distances between VAE means by
sum_k w_ijk (mu_ik - mu_jk)^2 with w_ijk proportional to 1 / (sigma_ik^2 + sigma_jk^2 + 0.01),
normalised over k, so latent dimensions the encoder is unsure about count less.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from wemd.errors import WEMDError, require

#: tSNE iterations in the paper (KL divergence stable by 5000); our default is far shorter.
PAPER_ITERATIONS = 10_000
EPSILON = 0.01
#: From this many points on, negative gradients are FFT-interpolated (Barnes-Hut below).
FFT_FROM = 10_000


class MapError(WEMDError, ValueError):
    """Embeddings that cannot be mapped as asked."""


def default_perplexity(n: int) -> float:
    """sqrt(N) (paper, after Oskolkov), capped so that 3 x perplexity neighbours exist."""
    if n < 4:
        raise MapError(f"tSNE needs at least 4 points, got {n}.")
    return float(min(math.sqrt(n), (n - 1) / 3))


def gradient_method(n: int) -> str:
    """openTSNE negative-gradient method for ``n`` points: "fft" for large maps, else "bh"."""
    return "fft" if n >= FFT_FROM else "bh"


def sigma_aware_sq_distances(means: np.ndarray, sigmas: np.ndarray, rows: np.ndarray,
                             eps: float = EPSILON) -> np.ndarray:
    """Weighted squared distances of eqs 14-15 from the points ``rows`` to every point: [len(rows), N]."""
    s2 = np.asarray(sigmas, dtype=np.float64) ** 2
    mu = np.asarray(means, dtype=np.float64)
    inv = 1.0 / (s2[rows, None, :] + s2[None, :, :] + eps)  # [r, N, u]
    w = inv / inv.sum(axis=2, keepdims=True)
    return np.einsum("rnk,rnk->rn", w, (mu[rows, None, :] - mu[None, :, :]) ** 2)


def _sigma_aware_affinities_class():
    affinity = require("openTSNE.affinity", "viz")

    class SigmaAwareAffinities(affinity.Affinities):
        """openTSNE affinities from VAE means and standard deviations (paper eqs 14-15).

        Every point's k = 3 x perplexity nearest neighbours under the weighted distance are found
        exactly (chunked, O(N^2 u) arithmetic), then Gaussian bandwidths are fitted to the
        perplexity and the result symmetrised and normalised as openTSNE does for standard tSNE.
        """

        def __init__(self, means: np.ndarray, sigmas: np.ndarray, perplexity: Optional[float] = None,
                     eps: float = EPSILON, chunk: Optional[int] = None, n_jobs: int = 1,
                     progress: bool = False, verbose: bool = False):
            super().__init__(verbose=verbose)
            from tqdm.auto import tqdm

            means, sigmas = np.asarray(means), np.asarray(sigmas)
            if means.shape != sigmas.shape or means.ndim != 2:
                raise MapError(f"means {means.shape} and sigmas {sigmas.shape} must both be [N, u].")
            if np.any(sigmas < 0) or not np.all(np.isfinite(sigmas)):
                raise MapError("sigmas must be finite and non-negative standard deviations.")
            n = len(means)
            self.perplexity = perplexity or default_perplexity(n)
            k = min(n - 1, int(3 * self.perplexity))
            chunk = chunk or max(1, 4_000_000 // (n * means.shape[1]))  # ~32 MB per temporary
            neighbors = np.empty((n, k), dtype=np.int64)
            distances = np.empty((n, k), dtype=np.float64)
            for a in tqdm(range(0, n, chunk), desc="sigma-aware affinities", disable=not progress):
                rows = np.arange(a, min(a + chunk, n))
                d2 = sigma_aware_sq_distances(means, sigmas, rows, eps)
                d2[np.arange(len(rows)), rows] = np.inf  # a point is not its own neighbour
                part = np.argpartition(d2, k - 1, axis=1)[:, :k]
                order = np.argsort(np.take_along_axis(d2, part, 1), axis=1)
                neighbors[rows] = np.take_along_axis(part, order, 1)
                distances[rows] = np.sqrt(np.take_along_axis(d2, neighbors[rows], 1))
            self._n = n
            self.neighbors, self.distances = neighbors, distances
            self.P = affinity.joint_probabilities_nn(neighbors, distances, [self.perplexity],
                                                     symmetrize=True, n_jobs=n_jobs)

        @property
        def n_samples(self) -> int:
            return self._n

    return SigmaAwareAffinities


def sigma_aware_affinities(means: np.ndarray, sigmas: np.ndarray, perplexity: Optional[float] = None,
                           **kw):
    """Build a :class:`SigmaAwareAffinities` (an ``openTSNE.affinity.Affinities``)."""
    return _sigma_aware_affinities_class()(means, sigmas, perplexity, **kw)


def tsne_map(means: np.ndarray, sigmas: Optional[np.ndarray] = None, *, sigma_aware: bool = False,
             perplexity: Optional[float] = None, n_iter: int = 750, seed: int = 0,
             n_jobs: int = 1, gradient: Optional[str] = None, progress: bool = False) -> np.ndarray:
    """2-D tSNE map [N, 2] of latent means (sigma-aware when asked; needs VAE sigmas).

    ``n_iter`` counts iterations after openTSNE's 250 early-exaggeration ones; the paper ran
    :data:`PAPER_ITERATIONS`. ``gradient`` overrides :func:`gradient_method`.
    """
    openTSNE = require("openTSNE", "viz")
    means = np.ascontiguousarray(means, dtype=np.float64)
    n = len(means)
    perplexity = perplexity or default_perplexity(n)
    if sigma_aware:
        if sigmas is None:
            raise MapError("the sigma-aware map needs encoded standard deviations: use the VAE "
                           "embedding (PCA has none).")
        aff = sigma_aware_affinities(means, sigmas, perplexity, n_jobs=n_jobs, progress=progress)
    else:
        aff = openTSNE.affinity.PerplexityBasedNN(means, perplexity=perplexity, n_jobs=n_jobs,
                                                  random_state=seed, method="auto")
    tsne = openTSNE.TSNE(n_components=2, n_iter=n_iter,
                         negative_gradient_method=gradient or gradient_method(n),
                         initialization="pca", random_state=seed, n_jobs=n_jobs,
                         verbose=False)
    return np.asarray(tsne.fit(means, affinities=aff), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# how good is a map?
# ---------------------------------------------------------------------------------------------

def _knn(x: np.ndarray, k: int) -> np.ndarray:
    neighbors = require("sklearn.neighbors", "viz")
    nn = neighbors.NearestNeighbors(n_neighbors=k + 1).fit(x)
    idx = nn.kneighbors(x, return_distance=False)
    return idx[:, 1:]


def knn_preservation(reference: np.ndarray, mapped: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each point's k nearest neighbours in ``reference`` kept in ``mapped``."""
    a, b = _knn(np.asarray(reference).reshape(len(reference), -1), k), _knn(mapped, k)
    return float(np.mean([len(np.intersect1d(r, m)) / k for r, m in zip(a, b)]))


def knn_label_agreement(mapped: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each point's k nearest map neighbours that share its label."""
    labels = np.asarray(labels)
    return float(np.mean(labels[_knn(mapped, k)] == labels[:, None]))


def map_quality(reference: np.ndarray, mapped: np.ndarray, k: int = 10,
                labels: Optional[np.ndarray] = None, max_points: int = 2000,
                seed: int = 0) -> dict[str, float]:
    """Trustworthiness and k-NN preservation of a map w.r.t. ``reference`` (e.g. scaled pixels).

    At most ``max_points`` random points are scored (trustworthiness is O(N^2) in memory).
    """
    manifold = require("sklearn.manifold", "viz")
    reference = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    if len(reference) != len(mapped):
        raise MapError(f"{len(reference)} reference points but {len(mapped)} map points.")
    idx = np.arange(len(mapped))
    if len(idx) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(len(idx), max_points, replace=False))
    k = min(k, (len(idx) - 1) // 2)
    ref, mp = reference[idx], np.asarray(mapped)[idx]
    out = {"trustworthiness": float(manifold.trustworthiness(ref, mp, n_neighbors=k)),
           "knn_preservation": knn_preservation(ref, mp, k), "k": k, "n_scored": len(idx)}
    if labels is not None:
        out["knn_label_agreement"] = knn_label_agreement(mp, np.asarray(labels)[idx], k)
    return out


def compare(images: np.ndarray, labels: Optional[np.ndarray] = None, *, vae=None, k: int = 10,
            n_iter: int = 750, seed: int = 0, progress: bool = False) -> dict[str, dict[str, float]]:
    """Map the same images by PCA, VAE and sigma-aware VAE tSNE and score each map.

    Scores are taken against the min-max scaled pixels (what both embeddings see), plus label
    agreement of map neighbours when ``labels`` are given. ``vae`` is a ``VAEConfig``.
    """
    from wemd.viz.embed import embed, minmax

    reference = minmax(images)
    pca = embed(images, "pca", seed=seed)
    vae_emb = embed(images, "vae", vae=vae, seed=seed, progress=progress)
    maps = {"pca": tsne_map(pca.means, n_iter=n_iter, seed=seed),
            "vae": tsne_map(vae_emb.means, n_iter=n_iter, seed=seed),
            "vae_sigma_aware": tsne_map(vae_emb.means, vae_emb.sigmas, sigma_aware=True,
                                        n_iter=n_iter, seed=seed)}
    return {name: map_quality(reference, m, k, labels, seed=seed) for name, m in maps.items()}
