"""A global Fourier-domain Wiener filter for TEM images, in PyTorch (batched, differentiable).

High-resolution TEM images are dominated by lattice fringes whose power sits in a few sharp
spectral peaks, while shot noise is white; microscopists have long filtered such images in
Fourier space (Kilaas 1998, J. Microsc. 190:45). This filter keeps each frequency with the
Wiener gain ``max(0, 1 - a N / P)``: ``P`` is the image's power spectrum averaged over 3x3
neighbouring frequencies (cyclic), ``N`` the white-noise power from a robust estimate of the
noise sigma (median absolute Haar diagonal detail / 0.6745, as Donoho and Johnstone 1994) and
``a = 2`` over-subtracts because ``P`` is itself noisy. Nothing is learned or tuned per image.

The classical ``fourier_wiener`` row of the denoising tasks (:mod:`wemd.baselines.denoise`)
calls it on one image; the learned atrous denoiser (:mod:`wemd.baselines.models`) starts from
it and adds a learned correction.
"""

from __future__ import annotations

from wemd.errors import require

__all__ = ["OVER_SUBTRACTION", "noise_sigma", "spectral_wiener"]

torch = require("torch", "torch")
F = torch.nn.functional
Tensor = torch.Tensor

#: ``a`` in ``1 - a N / P``: the noise power is over-subtracted because ``P`` is itself noisy
OVER_SUBTRACTION = 2.0


def noise_sigma(x: Tensor) -> Tensor:
    """Per-image white-noise sigma of [B,1,H,W] images: MAD of the Haar diagonal detail / 0.6745."""
    h, w = (x.shape[-2] // 2) * 2, (x.shape[-1] // 2) * 2
    x = x[..., :h, :w]
    diag = (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2
    return diag.abs().flatten(1).median(dim=1).values / 0.6745


def spectral_wiener(x: Tensor, over_subtraction: float = OVER_SUBTRACTION) -> Tensor:
    """The Fourier-domain Wiener estimate of [B,1,H,W] noisy images (same shape and dtype)."""
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"spectral_wiener expects [batch, 1, height, width], got {tuple(x.shape)}")
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()  # float64 off MPS only
    mean = work.mean(dim=(-2, -1), keepdim=True)
    spectrum = torch.fft.fft2(work - mean)
    power = F.avg_pool2d(F.pad(spectrum.abs() ** 2, (1, 1, 1, 1), mode="circular"), 3, stride=1)
    noise = over_subtraction * noise_sigma(work) ** 2 * x.shape[-2] * x.shape[-1]
    gain = (1 - noise[:, None, None, None] / power.clamp_min(1e-30)).clamp(0, 1)
    return (torch.fft.ifft2(gain * spectrum).real + mean).to(x.dtype)
