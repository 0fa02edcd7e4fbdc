"""tSNE maps with openTSNE, the paper's sigma-aware affinities (eqs 14-15) and map scores."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_embed import class_image
from wemd.viz.tsne import (MapError, default_perplexity, gradient_method, knn_label_agreement,
                           knn_preservation, map_quality, sigma_aware_affinities,
                           sigma_aware_sq_distances, tsne_map)


def test_default_perplexity_is_sqrt_n_capped_by_the_neighbours_available():
    assert default_perplexity(19769) == pytest.approx(np.sqrt(19769))
    assert default_perplexity(10) == pytest.approx(3.0)  # sqrt(10) > (10 - 1) / 3
    with pytest.raises(MapError, match="at least 4"):
        default_perplexity(3)
    assert gradient_method(19769) == "fft" and gradient_method(200) == "bh"


def test_sigma_aware_distances_match_equations_14_15_by_hand():
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=(5, 3)), rng.uniform(0.1, 2, size=(5, 3))
    d2 = sigma_aware_sq_distances(mu, sigma, np.arange(5))
    i, j = 1, 3
    w = 1 / (sigma[i] ** 2 + sigma[j] ** 2 + 0.01)
    w /= w.sum()
    assert d2[i, j] == pytest.approx(np.sum(w * (mu[i] - mu[j]) ** 2))
    assert np.allclose(d2, d2.T) and np.allclose(np.diag(d2), 0)
    # equal sigmas everywhere: plain squared distance divided by the latent size
    d_eq = sigma_aware_sq_distances(mu, np.ones_like(mu), np.arange(5))
    assert np.allclose(d_eq, ((mu[:, None] - mu[None]) ** 2).sum(-1) / 3)


def test_uncertain_dimensions_count_less_in_the_affinities():
    """Two groups differ only along dimension 0; when that dimension is uncertain (large sigma)
    and dimension 1 is noise with small sigma, sigma-aware affinities stop favouring the groups."""
    rng = np.random.default_rng(1)
    n = 60
    group = np.arange(n) % 2
    mu = np.stack([group * 3.0 + rng.normal(0, 0.1, n), rng.normal(0, 1.0, n)], axis=1)
    certain = np.full_like(mu, 0.1)
    doubtful = certain.copy()
    doubtful[:, 0] = 10.0
    p_certain = sigma_aware_affinities(mu, certain, perplexity=5).P.tocoo()
    p_doubt = sigma_aware_affinities(mu, doubtful, perplexity=5).P.tocoo()

    def within(p):
        same = group[p.row] == group[p.col]
        return p.data[same].sum() / p.data.sum()

    assert within(p_certain) > 0.95
    assert within(p_doubt) < 0.8
    assert p_certain.shape == (n, n) and np.isclose(p_certain.data.sum(), 1.0)


def test_maps_separate_classes_and_sigma_aware_runs_through_opentsne():
    rng = np.random.default_rng(2)
    labels = np.arange(90) % 3
    images = np.stack([class_image(int(c), rng) for c in labels])
    from wemd.viz.embed import embed, minmax

    pca = embed(images, "pca")
    m = tsne_map(pca.means, n_iter=250)
    assert m.shape == (90, 2) and np.all(np.isfinite(m))
    q = map_quality(minmax(images), m, k=5, labels=labels)
    assert q["knn_label_agreement"] > 0.9
    assert 0.5 < q["trustworthiness"] <= 1.0 and 0 < q["knn_preservation"] <= 1.0
    sig = np.abs(rng.normal(1, 0.1, pca.means.shape))
    ms = tsne_map(pca.means, sig, sigma_aware=True, n_iter=250)
    assert knn_label_agreement(ms, labels, k=5) > 0.9
    with pytest.raises(MapError, match="VAE"):
        tsne_map(pca.means, sigma_aware=True)


def test_knn_preservation_is_one_for_an_isometry_and_low_for_a_shuffle():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 2))
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert knn_preservation(x, x @ rot, k=5) == pytest.approx(1.0)
    assert knn_preservation(x, rng.permutation(x), k=5) < 0.3
