"""Adaptive learning rate clipping of loss spikes (Ede and Beanland 2020, Algorithms 1-3).

A loss L above a bound L_max is back-propagated as ``stop_gradient(L_max / L) * L``: its
gradient shrinks by exactly L_max / L, so a "bad batch" moves the weights no further than a
loss at the bound would (likewise L_min / L below a lower bound). Three bound rules:

- :class:`ALRC`: ``mu1 +- n * sigma`` from running raw moments of the loss (Algorithm 1).
- :class:`CLRC`: fixed bounds (Algorithm 2).
- :class:`DALRC`: ``mu1 + n_up * mu_up`` and ``mu1 - n_down * mu_down`` with separate running
  mean deviations above and below ``mu1`` (Algorithm 3).

Calling a clipper on per-example losses returns their mean, the loss to back-propagate. Its
forward VALUE is the raw mean (so logged losses stay honest); only gradients are scaled. (The
paper's L_dyn evaluates to the bound; the gradient is identical.) Each element is clipped on its
own; the running statistics are updated with the raw mean of the batch, after the bounds for
this step were taken, and only in training mode. The state lives in buffers, so it is saved and
restored with ``state_dict``. Zero, negative and non-finite losses never produce NaN or inf:
a loss is rescaled only when it, its bound and their ratio are finite and positive, and
non-finite batch means leave the statistics untouched.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from wemd.errors import require

torch = require("torch", "torch")
nn = torch.nn
Tensor = torch.Tensor

__all__ = ["ALRC", "CLRC", "DALRC", "LossClipper"]


class _ScaleGrad(torch.autograd.Function):
    """Identity in the forward pass; multiplies the incoming gradient by ``scale``."""

    @staticmethod
    def forward(ctx: Any, losses: Tensor, scale: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(scale)
        return losses.view_as(losses)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (scale,) = ctx.saved_tensors
        return grad * scale, None


def _ratio(bound: Tensor, losses: Tensor, outside: Tensor) -> Tensor:
    """bound / L where the loss lies outside the bound and the ratio is finite and positive, else 1."""
    ok = outside & (losses > 0) & (bound > 0) & torch.isfinite(losses) & torch.isfinite(bound)
    ratio = bound / torch.where(ok, losses, torch.ones_like(losses))
    return torch.where(ok & torch.isfinite(ratio), ratio, torch.ones_like(losses))


def _finite_n(n: Optional[float], name: str) -> Optional[float]:
    """A number of deviations, or None for "no bound on this side" (None or inf)."""
    if n is None or math.isinf(n):
        return None
    if not n > 0:
        raise ValueError(f"{name} must be a positive number of deviations (or inf to disable), "
                         f"not {n!r}")
    return float(n)


def _check_decay(decay: float) -> float:
    if not 0.0 < decay < 1.0:
        raise ValueError(f"decay must lie in (0, 1) (sensible: 0.999), not {decay!r}")
    return float(decay)


class LossClipper(nn.Module):
    """Shared mechanics: per-element gradient scaling and the statistics update."""

    def bounds(self) -> tuple[Optional[Tensor], Optional[Tensor]]:
        """(L_min, L_max) for the next step; None where that side is not clipped."""
        raise NotImplementedError

    def _update(self, mean: Tensor, ok: Tensor) -> None:
        """Fold the raw batch-mean loss into the running statistics where ``ok`` (finite)."""

    def scales(self, losses: Tensor) -> Tensor:
        """Per-element gradient multipliers (1 inside the bounds) for the current state."""
        low, high = self.bounds()
        raw = losses.detach().float()
        scale = torch.ones_like(raw)
        if high is not None:
            high = high.to(raw.device)
            scale = torch.where(raw > high, _ratio(high, raw, raw > high), scale)
        if low is not None:
            low = low.to(raw.device)
            scale = torch.where(raw < low, _ratio(low, raw, raw < low), scale)
        return scale.to(losses.dtype)

    def forward(self, losses: Tensor) -> Tensor:
        """Mean of ``losses`` with each element's gradient clipped; updates statistics when training."""
        if not isinstance(losses, Tensor):
            raise TypeError(f"pass the per-example losses as a torch.Tensor, not {type(losses).__name__}")
        if losses.numel() == 0:
            raise ValueError("no losses to clip: the tensor is empty")
        out = _ScaleGrad.apply(losses, self.scales(losses)).mean()
        if self.training:
            with torch.no_grad():  # tensor ops only: no host sync per step on a GPU
                mean = losses.detach().float().mean()
                buf = next(self.buffers(), None)
                if buf is not None:
                    mean = mean.to(buf.device)
                    self._update(mean, torch.isfinite(mean))
        return out


def _ema(buf: Tensor, value: Tensor, decay: float, where: Tensor) -> None:
    """buf <- decay * buf + (1 - decay) * value, in place, only where ``where`` holds."""
    buf.copy_(torch.where(where, decay * buf + (1 - decay) * value, buf))


class ALRC(LossClipper):
    """Adaptive learning rate clipping (Algorithm 1), one-sided by default.

    ``mu1`` is the initial running mean of the loss; ``mu2`` the initial root mean square, so the
    paper's raw second moment starts at ``mu2 ** 2`` (the authors' code wrote ``30**2``) and the
    initial deviation is ``sqrt(mu2**2 - mu1**2)``. Start both ABOVE their true values: they decay
    to them. ``n_min=inf`` (default) disables the lower bound.
    """

    def __init__(self, n_max: Optional[float] = 3.0, mu1: float = 25.0, mu2: float = 30.0,
                 decay: float = 0.999, n_min: Optional[float] = math.inf):
        super().__init__()
        if not (math.isfinite(mu1) and math.isfinite(mu2) and mu2 > abs(mu1)):
            raise ValueError(f"ALRC needs finite initial moments with mu2 > |mu1| (mu2 is the root "
                             f"mean square, so mu1**2 < mu2**2); got mu1={mu1!r}, mu2={mu2!r}")
        self.n_max = _finite_n(n_max, "n_max")
        self.n_min = _finite_n(n_min, "n_min")
        self.decay = _check_decay(decay)
        self.register_buffer("mu1", torch.tensor(float(mu1)))
        self.register_buffer("mu2", torch.tensor(float(mu2) ** 2))  # raw second moment

    @classmethod
    def from_losses(cls, batch_losses: Sequence[float], n_max: Optional[float] = 3.0,
                    decay: float = 0.999, n_min: Optional[float] = math.inf) -> "ALRC":
        """ALRC with its moments at the sample mean and RMS of observed batch-mean losses.

        For runs too short for high initial moments to decay (1e3 steps rather than the
        paper's 1e5): train a few steps unclipped, then start ALRC from their losses.
        """
        values = [float(v) for v in batch_losses if math.isfinite(float(v))]
        if not values:
            raise ValueError("ALRC.from_losses needs at least one finite loss")
        mean = sum(values) / len(values)
        rms = math.sqrt(sum(v * v for v in values) / len(values))
        # rms >= |mean|, equal for constant losses: a hair above keeps mu1**2 < mu2
        return cls(n_max=n_max, mu1=mean, mu2=max(rms, abs(mean)) * (1 + 1e-6) + 1e-30,
                   decay=decay, n_min=n_min)

    @property
    def sigma(self) -> Tensor:
        """Running standard deviation sqrt(mu2 - mu1^2), clamped at zero against rounding."""
        return torch.sqrt(torch.clamp(self.mu2 - self.mu1 ** 2, min=0.0))

    def bounds(self) -> tuple[Optional[Tensor], Optional[Tensor]]:
        sigma = self.sigma
        low = None if self.n_min is None else self.mu1 - self.n_min * sigma
        high = None if self.n_max is None else self.mu1 + self.n_max * sigma
        return low, high

    def _update(self, mean: Tensor, ok: Tensor) -> None:
        _ema(self.mu1, mean, self.decay, ok)
        _ema(self.mu2, mean * mean, self.decay, ok)

    def extra_repr(self) -> str:
        return f"n_max={self.n_max}, n_min={self.n_min}, decay={self.decay}"


class CLRC(LossClipper):
    """Constant learning rate clipping (Algorithm 2): effective losses kept in [l_min, l_max]."""

    def __init__(self, l_max: Optional[float] = None, l_min: Optional[float] = None):
        super().__init__()
        if l_max is None and l_min is None:
            raise ValueError("CLRC needs at least one bound: pass l_max and/or l_min")
        if l_max is not None and l_min is not None and not l_min < l_max:
            raise ValueError(f"CLRC needs l_min < l_max; got l_min={l_min!r}, l_max={l_max!r}")
        self.register_buffer("l_max", torch.tensor(math.inf if l_max is None else float(l_max)))
        self.register_buffer("l_min", torch.tensor(-math.inf if l_min is None else float(l_min)))

    def bounds(self) -> tuple[Optional[Tensor], Optional[Tensor]]:
        return self.l_min, self.l_max


class DALRC(LossClipper):
    """Doubly adaptive learning rate clipping (Algorithm 3).

    Tracks the running mean ``mu1`` and running mean deviations ``mu_up`` (of losses above
    ``mu1``) and ``mu_down`` (below); bounds are ``mu1 + n_up * mu_up`` and
    ``mu1 - n_down * mu_down``. Either side is disabled with ``n = inf``.
    """

    def __init__(self, n_up: Optional[float] = 2.0, n_down: Optional[float] = 2.0,
                 mu1: float = 25.0, mu_up: float = 15.0, mu_down: float = 15.0,
                 decay: float = 0.999):
        super().__init__()
        if not (math.isfinite(mu1) and mu_up > 0 and mu_down > 0
                and math.isfinite(mu_up) and math.isfinite(mu_down)):
            raise ValueError(f"DALRC needs a finite mu1 and positive finite deviations; got "
                             f"mu1={mu1!r}, mu_up={mu_up!r}, mu_down={mu_down!r}")
        self.n_up = _finite_n(n_up, "n_up")
        self.n_down = _finite_n(n_down, "n_down")
        self.decay = _check_decay(decay)
        self.register_buffer("mu1", torch.tensor(float(mu1)))
        self.register_buffer("mu_up", torch.tensor(float(mu_up)))
        self.register_buffer("mu_down", torch.tensor(float(mu_down)))

    def bounds(self) -> tuple[Optional[Tensor], Optional[Tensor]]:
        low = None if self.n_down is None else self.mu1 - self.n_down * self.mu_down
        high = None if self.n_up is None else self.mu1 + self.n_up * self.mu_up
        return low, high

    def _update(self, mean: Tensor, ok: Tensor) -> None:
        gap = mean - self.mu1
        _ema(self.mu_up, gap, self.decay, ok & (gap > 0))
        _ema(self.mu_down, -gap, self.decay, ok & (gap < 0))
        _ema(self.mu1, mean, self.decay, ok)

    def extra_repr(self) -> str:
        return f"n_up={self.n_up}, n_down={self.n_down}, decay={self.decay}"
