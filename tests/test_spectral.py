"""The Fourier-domain Wiener filter: noise estimate, lattice recovery, no harm to vacuum."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wemd.baselines.denoise import fourier_wiener, gaussian  # noqa: E402
from wemd.baselines.spectral import noise_sigma, spectral_wiener  # noqa: E402


def lattice(size: int = 256, period: float = 4.3) -> np.ndarray:
    """Two crossed fringe sets with a ~4 px period: the HRTEM case local filters blur."""
    y, x = np.mgrid[:size, :size].astype(np.float64)
    k = 2 * np.pi / period
    return 0.5 + 0.2 * np.cos(k * (0.96 * x + 0.28 * y)) + 0.2 * np.cos(k * (-0.28 * x + 0.96 * y))


def test_noise_sigma_matches_white_noise_and_ignores_smooth_signal():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:256, :256] / 256.0
    smooth = np.sin(3 * x) + y ** 2
    for sigma in (0.01, 0.1):
        img = torch.from_numpy(smooth + rng.normal(0, sigma, smooth.shape))[None, None]
        assert float(noise_sigma(img)[0]) == pytest.approx(sigma, rel=0.05)


def test_recovers_a_noisy_lattice_far_better_than_a_local_filter():
    rng = np.random.default_rng(1)
    clean = lattice()
    noisy = clean + rng.normal(0, 0.15, clean.shape)
    mse = {name: float(np.mean((f(noisy) - clean) ** 2))
           for name, f in (("noisy", lambda a: a), ("gaussian", gaussian),
                           ("fourier_wiener", fourier_wiener))}
    assert mse["fourier_wiener"] < 0.1 * mse["gaussian"] < 0.1 * mse["noisy"], mse


def test_pure_noise_is_flattened_towards_its_mean_and_shapes_are_kept():
    rng = np.random.default_rng(2)
    noisy = 0.4 + rng.normal(0, 0.1, (64, 80))
    out = fourier_wiener(noisy)
    assert out.shape == noisy.shape
    assert abs(out.mean() - noisy.mean()) < 1e-9  # the mean (zero frequency) is kept exactly
    assert np.std(out) < 0.3 * np.std(noisy)


def test_batched_dtype_kept_and_bad_shape_named():
    x = torch.rand(3, 1, 40, 48)
    y = spectral_wiener(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    np.testing.assert_allclose(y[1, 0].numpy(), fourier_wiener(x[1, 0].double().numpy()), atol=1e-5)
    half = spectral_wiener(x.half())  # mixed precision: computed in float32, returned as given
    assert half.dtype == torch.float16
    assert (half.float() - y).abs().max() < 2e-3
    with pytest.raises(ValueError, match=r"\[batch, 1, height, width\]"):
        spectral_wiener(torch.rand(40, 48))
