"""Classical denoisers of the TEM denoising paper's Table 1, with scipy / scikit-image.

Each takes an image on [0, 1] and returns a float array of the same shape. Parameters are the
paper's ("default" where it says so); where a library default differs from the paper's OpenCV
call, the choice is named in the function's docstring. Nothing here is tuned.
"""

from __future__ import annotations

import numpy as np

from wemd.errors import require


def unfiltered(x: np.ndarray) -> np.ndarray:
    """The noisy input itself (the 'unfiltered' row)."""
    return np.asarray(x, np.float64)


def gaussian(x: np.ndarray) -> np.ndarray:
    """3x3 Gaussian, sigma 0.8 (scipy, truncate 1.25 -> radius 1; mirrored borders as OpenCV's
    default BORDER_REFLECT_101)."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(np.asarray(x, np.float64), sigma=0.8, truncate=1.25, mode="mirror")


def bilateral(x: np.ndarray) -> np.ndarray:
    """Bilateral 9x9, sigma_color 75, sigma_spatial 75 (scikit-image instead of OpenCV; on a
    [0, 1] image sigma_color 75 disables range weighting, as it did for the paper's call)."""
    from skimage.restoration import denoise_bilateral

    return denoise_bilateral(np.asarray(x, np.float64), win_size=9, sigma_color=75.0,
                             sigma_spatial=75.0, mode="reflect")


def median(x: np.ndarray) -> np.ndarray:
    """3x3 median (scipy, 'reflect' borders)."""
    from scipy.ndimage import median_filter

    return median_filter(np.asarray(x, np.float64), size=3, mode="reflect")


def wiener(x: np.ndarray) -> np.ndarray:
    """scipy.signal.wiener with its defaults (3x3 window, noise power estimated from the image)."""
    from scipy.signal import wiener as _wiener

    # flat zero-count patches at low dose have zero local variance: scipy divides by it, then
    # discards those values (the result is right); do not print its RuntimeWarning
    with np.errstate(divide="ignore", invalid="ignore"):
        return _wiener(np.asarray(x, np.float64))


def wavelet(x: np.ndarray) -> np.ndarray:
    """scikit-image wavelet denoising, BayesShrink, soft thresholds, otherwise defaults (db1);
    needs PyWavelets (``pip install 'wemd[leaderboard]'``)."""
    require("pywt", "leaderboard")
    from skimage.restoration import denoise_wavelet

    return denoise_wavelet(np.asarray(x, np.float64), method="BayesShrink", mode="soft",
                           rescale_sigma=True)


def tv_chambolle(x: np.ndarray) -> np.ndarray:
    """Chambolle total-variation denoising, weight 0.1 (scikit-image)."""
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(np.asarray(x, np.float64), weight=0.1)


def tv_bregman(x: np.ndarray) -> np.ndarray:
    """Split-Bregman total-variation denoising, weight 0.1 (scikit-image; there a smaller weight
    means stronger smoothing)."""
    from skimage.restoration import denoise_tv_bregman

    return denoise_tv_bregman(np.asarray(x, np.float64), weight=0.1)


def fourier_wiener(x: np.ndarray) -> np.ndarray:
    """Global Fourier-domain Wiener filter (Kilaas 1998's HRTEM filtering; noise sigma from the
    Haar diagonal MAD, power spectrum averaged over 3x3 frequencies, noise over-subtracted 2x);
    the paper did not compare it. Implemented once, in PyTorch (:mod:`wemd.baselines.spectral`),
    because the learned atrous denoiser starts from it."""
    torch = require("torch", "torch")
    from wemd.baselines.spectral import spectral_wiener

    img = torch.from_numpy(np.asarray(x, np.float64))[None, None]
    return spectral_wiener(img)[0, 0].numpy()


def bm3d(x: np.ndarray) -> np.ndarray:
    """BM3D (the ``bm3d`` package) with the noise sigma estimated from the image by scikit-image;
    the paper did not compare it. Poisson noise is signal-dependent, so one sigma is a simplification."""
    lib = require("bm3d", "leaderboard")
    from skimage.restoration import estimate_sigma

    img = np.asarray(x, np.float64)
    sigma = float(estimate_sigma(img))
    return np.asarray(lib.bm3d(img, sigma_psd=max(sigma, 1e-6)), np.float64)
