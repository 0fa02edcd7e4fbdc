"""Embeddings: PCA and the paper's VAE on structured fake 96x96 data written in the real layout."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fakedata import make_dataset
from wemd import catalog
from wemd.viz.embed import (EmbeddingError, as_images, embed, load_embedding, load_images, minmax,
                            save_embedding)
from wemd.viz.vae import PAPER_SCHEDULE, VAEConfig, demon_beta1, learning_rate

CLASSES = ("lattice", "fringes", "particle")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks on a shared 2-core machine train several times faster on one thread."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def class_image(label: int, rng: np.random.Generator) -> np.ndarray:
    """A 96x96 picture of one of three visually distinct kinds, with random parameters."""
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float64)
    if label == 0:  # atom columns on a rotated lattice
        a, t = rng.uniform(9, 13), rng.uniform(0, np.pi)
        u = xx * np.cos(t) + yy * np.sin(t) + rng.uniform(0, a)
        v = -xx * np.sin(t) + yy * np.cos(t) + rng.uniform(0, a)
        img = np.exp(-(((u % a) - a / 2) ** 2 + ((v % a) - a / 2) ** 2) / 4.0)
    elif label == 1:  # straight fringes
        f, t = rng.uniform(0.05, 0.09), rng.uniform(0, np.pi)
        img = 0.5 + 0.5 * np.sin(2 * np.pi * f * (xx * np.cos(t) + yy * np.sin(t)))
    else:  # one bright particle on a dark background
        cy, cx, r = rng.uniform(30, 66), rng.uniform(30, 66), rng.uniform(14, 24)
        img = 1.0 / (1.0 + np.exp(((yy - cy) ** 2 + (xx - cx) ** 2 - r ** 2) / 40.0))
    return (img + rng.normal(0, 0.05, img.shape)).astype(np.float32)


def structured_dataset(home, name: str = "stem_96x96", counts=None, seed: int = 0):
    """Fake data in the real layout whose items fall in three classes; returns (folder, labels)."""
    spec = catalog.get(name)
    counts = counts or {s: n for s, n in zip(spec.splits, (60, 15, 15))}
    folder = make_dataset(name, home, counts)
    total = sum(counts.values())
    rng = np.random.default_rng(seed)
    labels = np.arange(total) % 3
    pictures = np.stack([class_image(int(c), rng) for c in labels])
    if spec.item_shape[-1] == 2:  # wavefunctions: amplitude and phase both carry the pattern
        wave = (1.0 - 0.3 * minmax(pictures)) * np.exp(1j * np.pi * minmax(pictures))
        arr = np.stack([wave.real, wave.imag], axis=-1).astype(np.float32)
    else:
        arr = pictures[..., None]
    np.save(folder / f"{name}.npy", arr)
    return folder, labels


def test_as_images_views_and_shapes():
    gray = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 1)
    assert as_images(gray).shape == (2, 4, 4)
    wave = np.zeros((1, 4, 4, 2), np.float32)
    wave[..., 0], wave[..., 1] = 0.0, 2.0  # 2i: amplitude 2, phase pi/2
    assert np.allclose(as_images(wave, "amplitude"), 2.0)
    assert np.allclose(as_images(wave, "phase"), np.pi / 2)
    assert np.allclose(as_images(wave, "imaginary"), 2.0)
    with pytest.raises(EmbeddingError, match="view must be one of"):
        as_images(wave, "colour")
    with pytest.raises(EmbeddingError, match=r"\[N, H, W\]"):
        as_images(np.zeros((2, 3, 4, 5, 6)))


def test_minmax_scales_each_image_and_keeps_constant_ones_finite():
    x = np.stack([np.linspace(3, 7, 96 * 96).reshape(96, 96), np.full((96, 96), 5.0)])
    y = minmax(x)
    assert y[0].min() == 0 and y[0].max() == 1
    assert np.all(y[1] == 0)


def test_pca_embeds_new_images_like_the_fitted_ones(home):
    structured_dataset(home)
    import wemd

    ds = wemd.load("stem_96x96", "train")
    images = load_images(ds)
    assert images.shape == (60, 96, 96)
    emb = embed(images, "pca")
    assert emb.means.shape == (60, 50) and emb.sigmas is None
    again, _ = emb.encoder.encode(images[:3])
    assert np.allclose(again, emb.means[:3], atol=1e-4)
    # the classes are separable in the first components: nearest neighbours share the class
    from wemd.viz.tsne import knn_label_agreement

    assert knn_label_agreement(emb.means, np.arange(60) % 3, k=5) > 0.9
    back = load_embedding(save_embedding(emb, home / "pca"))
    assert np.allclose(back.encoder.encode(images[:2])[0], emb.means[:2], atol=1e-4)


@pytest.mark.slow
def test_vae_trains_with_the_papers_normalisation_and_encodes_deterministically(home):
    _, labels = structured_dataset(home, counts={"train": 48, "val": 3, "test": 3})
    import wemd

    images = load_images(wemd.load("stem_96x96", "train"))
    cfg = VAEConfig(width=4, iterations=25, batch_size=16, seed=1)
    emb = embed(images, "vae", vae=cfg, progress=False)
    assert emb.means.shape == (48, 64) and emb.sigmas.shape == (48, 64)
    assert np.all(emb.sigmas >= 0)  # |x| activation
    losses = [h["loss"] for h in emb.encoder.history]
    assert losses[-1] < losses[0]
    # encoding normalisation, calibrated on the training set: mu has mean 0 and std lambda_mu
    assert np.allclose(emb.means.mean(axis=0), 0, atol=1e-3)
    assert np.allclose(emb.means.std(axis=0), 2.5, atol=1e-2)
    assert np.allclose(emb.sigmas.std(axis=0), 0.5, atol=1e-2)
    one, _ = emb.encoder.encode(images[5:6])  # a single image encodes like it does in a batch
    assert np.allclose(one[0], emb.means[5], atol=1e-4)
    back = load_embedding(save_embedding(emb, home / "vae"))
    assert np.allclose(back.encoder.encode(images[:4])[0], emb.means[:4], atol=1e-4)
    assert emb.encoder.reconstruct(images[:2]).shape == (2, 96, 96)


def test_paper_schedule_lr_and_demon_momentum():
    cfg = PAPER_SCHEDULE
    assert (cfg.latent, cfg.batch_size, cfg.iterations, cfg.lambda_mu) == (64, 64, 600_000, 2.5)
    assert learning_rate(0, cfg) == pytest.approx(1e-3)
    assert learning_rate(cfg.iterations // 8, cfg) == pytest.approx(5e-4)
    assert learning_rate(cfg.iterations - 1, cfg) == pytest.approx(1e-3 * 0.5 ** 7)
    assert demon_beta1(0, cfg) == pytest.approx(0.9)
    assert demon_beta1(cfg.iterations // 2, cfg) == pytest.approx(0.45 / 0.55)
    assert demon_beta1(cfg.iterations, cfg) == 0


def test_embedding_rejects_wrong_sizes_and_unknown_methods():
    with pytest.raises(EmbeddingError, match="to_dataset_form"):
        embed(np.zeros((4, 64, 64)), "pca")
    with pytest.raises(EmbeddingError, match="pca, vae"):
        embed(np.zeros((4, 96, 96)), "umap")
