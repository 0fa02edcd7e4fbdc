"""Reference networks for the WEMD tasks: one atrous (ASPP) encoder-decoder, four heads.

The thesis' networks share a shape: a strided encoder, atrous spatial pyramid pooling (parallel
dilated convolutions plus image-level pooling, Chen et al. 2017) for a wide field of view at low
cost, and a decoder that upsamples back with a skip connection from full resolution. The heads:

- ``atrous-denoiser``: noisy image -> image, a learned correction to a Fourier-domain Wiener
  estimate (chapter 6's network; the spectral start is ours, see :mod:`wemd.baselines.spectral`).
- ``partial-scan``: [sparse scan, path mask] -> completed image (chapter 4).
- ``supersampler``: low-resolution image -> ``scale`` x larger image, residual over bilinear
  upsampling (ALRC paper, section 3 and 5).
- ``phase-recovery``: amplitude -> (cos, sin) of the phase, L2-normalised across the two
  channels at every pixel so the outputs lie on the unit circle (chapter 7).

Widths are arguments: the defaults train on a CPU in minutes on 96x96 inputs; raise ``width``
for full-size data on a GPU. Inputs of any size work (padded to the encoder's stride).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from wemd.baselines.spectral import spectral_wiener
from wemd.errors import WEMDError, require

torch = require("torch", "torch")
nn = torch.nn
F = torch.nn.functional
Tensor = torch.Tensor

__all__ = ["ASPP", "AtrousDenoiser", "EncoderDecoder", "MODELS", "PartialScanCompletion",
           "PhaseRecovery", "Supersampler", "UnknownModelError", "build_model"]


class UnknownModelError(WEMDError, ValueError):
    """A model name that is not in :data:`MODELS`."""


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """Conv + ReLU, 'same' padding."""
    pad = dilation * (k - 1) // 2
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation),
                         nn.ReLU(inplace=True))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, dilated 3x3 branches and image-level features."""

    def __init__(self, channels: int, rates: Sequence[int] = (2, 4, 6)):
        super().__init__()
        self.branches = nn.ModuleList([_conv(channels, channels, 1)]
                                      + [_conv(channels, channels, 3, dilation=r) for r in rates])
        self.pool = _conv(channels, channels, 1)
        self.project = _conv(channels * (len(rates) + 2), channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        feats = [b(x) for b in self.branches]
        pooled = self.pool(F.adaptive_avg_pool2d(x, 1)).expand(-1, -1, *x.shape[-2:])
        return self.project(torch.cat(feats + [pooled], dim=1))


class EncoderDecoder(nn.Module):
    """Image-to-image backbone: stride-4 encoder, ASPP, decoder with a full-resolution skip."""

    stride = 4

    def __init__(self, in_channels: int, out_channels: int, width: int = 32,
                 rates: Sequence[int] = (2, 4, 6)):
        super().__init__()
        w = int(width)
        self.stem = nn.Sequential(_conv(in_channels, w), _conv(w, w))
        self.down = nn.Sequential(_conv(w, 2 * w, stride=2), _conv(2 * w, 2 * w, stride=2))
        self.aspp = ASPP(2 * w, rates)
        self.up = nn.Sequential(_conv(2 * w, w))
        self.fuse = nn.Sequential(_conv(2 * w, w), _conv(w, w))
        self.head = nn.Conv2d(w, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.stride, (-w) % self.stride
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        skip = self.stem(x)
        deep = self.aspp(self.down(skip))
        deep = F.interpolate(self.up(deep), size=skip.shape[-2:], mode="bilinear",
                             align_corners=False)
        out = self.head(self.fuse(torch.cat([skip, deep], dim=1)))
        return out[..., :h, :w]


def _check_channels(x: Tensor, expected: int, what: str) -> None:
    if x.ndim != 4 or x.shape[1] != expected:
        raise ValueError(f"{what} expects a [batch, {expected}, height, width] tensor, got shape "
                         f"{tuple(x.shape)}")


class AtrousDenoiser(nn.Module):
    """Noisy image [B,1,H,W] -> denoised image: the global Fourier-domain Wiener estimate
    (:func:`wemd.baselines.spectral.spectral_wiener`, which recovers lattice fringes that local
    filters blur) plus a learned correction computed from the noisy image and that estimate.
    The correction's last layer starts at zero, so an untrained model is exactly the classical
    filter and training only has to find what it misses."""

    def __init__(self, width: int = 32, rates: Sequence[int] = (2, 4, 6)):
        super().__init__()
        self.net = EncoderDecoder(2, 1, width, rates)
        nn.init.zeros_(self.net.head.weight)
        nn.init.zeros_(self.net.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        _check_channels(x, 1, "atrous-denoiser")
        base = spectral_wiener(x)
        return base + self.net(torch.cat([x, base], dim=1))


class PartialScanCompletion(nn.Module):
    """[sparse scan, path mask] [B,2,H,W] -> completed image [B,1,H,W]."""

    def __init__(self, width: int = 32, rates: Sequence[int] = (2, 4, 6)):
        super().__init__()
        self.net = EncoderDecoder(2, 1, width, rates)

    def forward(self, x: Tensor) -> Tensor:
        _check_channels(x, 2, "partial-scan")
        return self.net(x)


class Supersampler(nn.Module):
    """Low-resolution image [B,1,h,w] -> [B,1,scale*h,scale*w] (or ``size``): bilinear + correction.

    Pass ``size`` when the factor is not an integer (e.g. nearest-neighbour 512 -> 103).
    """

    def __init__(self, scale: int = 2, width: int = 32, rates: Sequence[int] = (2, 4, 6)):
        super().__init__()
        if int(scale) < 1:
            raise ValueError(f"supersampler scale must be a positive integer, not {scale!r}")
        self.scale = int(scale)
        self.net = EncoderDecoder(1, 1, width, rates)

    def forward(self, x: Tensor, size: Optional[tuple[int, int]] = None) -> Tensor:
        _check_channels(x, 1, "supersampler")
        if size is None:
            size = (x.shape[-2] * self.scale, x.shape[-1] * self.scale)
        up = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
        return up + self.net(up)


class PhaseRecovery(nn.Module):
    """Amplitude [B,1,H,W] -> (cos, sin) of the phase [B,2,H,W], unit length at every pixel."""

    eps = 1e-12  # only guards an exactly zero output pair

    def __init__(self, width: int = 32, rates: Sequence[int] = (2, 4, 6)):
        super().__init__()
        self.net = EncoderDecoder(1, 2, width, rates)

    def forward(self, x: Tensor) -> Tensor:
        _check_channels(x, 1, "phase-recovery")
        return F.normalize(self.net(x), p=2.0, dim=1, eps=self.eps)


#: model name (as on the command line) -> constructor
MODELS: dict[str, Callable[..., nn.Module]] = {
    "atrous-denoiser": AtrousDenoiser,
    "partial-scan": PartialScanCompletion,
    "supersampler": Supersampler,
    "phase-recovery": PhaseRecovery,
}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """A fresh model by name; ``kwargs`` go to its constructor (width, rates, scale)."""
    if name not in MODELS:
        raise UnknownModelError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](**kwargs)
