"""The WEMD paper's VAE (thesis ch. 2): configuration, network, loss, schedules, training, encoder.

The VAE follows the paper: 64-d latent; encoding normalisation mu <- lambda_mu (mu - batch mean) /
batch std with lambda_mu = 2.5 and sigma <- sigma / (2 batch std of sigma); |x| activation for
sigma; loss 50 MSE(G(z), I) + 50 MSE(Sobel(G(z)), Sobel(I)) + MSE(sigma, 1); batch 64; Adam from
lr 1e-3 halved in 8 steps with a DEMON beta1 from 0.9; flips and 90 degree rotations; inputs
blurred by a 5x5 Gaussian of 2.5 px. Like batch normalisation, encoding normalisation keeps running
statistics so that single images encode deterministically after training. The convolutional
layout (strided 4x4 convolutions, batch norm + ReLU after every layer but the outputs) is ours:
the paper does not publish layer sizes.

Image preparation and the :class:`~wemd.viz.embed.Embedding` type come from
:mod:`wemd.viz.embed`; torch is imported only when a network is built or used.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from wemd.files import atomic_path, write_json
from wemd.errors import require
from wemd.viz.embed import Embedding, EmbeddingError, check_images, minmax


@dataclass(frozen=True)
class VAEConfig:
    """VAE hyperparameters; :data:`PAPER_SCHEDULE` reproduces the paper's training run."""

    latent: int = 64
    width: int = 16  # channels of the first conv layer; doubled at each of 4 downsamplings
    lambda_mu: float = 2.5
    lambda_mse: float = 50.0
    lambda_sobel: float = 50.0
    iterations: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    lr_decay: float = 0.5
    lr_steps: int = 8
    beta1_start: float = 0.9
    blur: bool = True
    augment: bool = True
    seed: int = 0


#: The paper's schedule: 600000 iterations of batch 64 (about 12 h on a GTX 1080 Ti).
PAPER_SCHEDULE = VAEConfig(iterations=600_000, width=32)


def _torch():
    return require("torch", "torch")


def _build_vae(cfg: VAEConfig):
    """The encoder-generator pair as one torch module (built lazily: torch is optional)."""
    torch = _torch()
    nn = torch.nn

    def block(conv: Any, ch: int) -> list:
        return [conv, nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]

    w = cfg.width
    chans = [1, w, 2 * w, 4 * w, 8 * w]  # 96 -> 48 -> 24 -> 12 -> 6
    enc: list = []
    for a, b in zip(chans, chans[1:]):
        enc += block(nn.Conv2d(a, b, 4, stride=2, padding=1, bias=False), b)
    gen: list = []
    for a, b in zip(chans[:1:-1], chans[-2:0:-1]):
        gen += block(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1, bias=False), b)
    gen.append(nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1))  # output layer: no BN/ReLU
    flat = chans[-1] * 6 * 6

    class EncodingNorm(nn.Module):
        """Encoding normalisation (paper eqs 6-10) with running statistics for inference."""

        def __init__(self, latent: int, lambda_mu: float, momentum: float = 0.01):
            super().__init__()
            self.lambda_mu, self.momentum = lambda_mu, momentum
            self.register_buffer("mu_mean", torch.zeros(latent))
            self.register_buffer("mu_std", torch.ones(latent))
            self.register_buffer("sigma_std", torch.ones(latent))

        def forward(self, mu, sigma):
            if self.training:
                stats = (mu.mean(0), mu.std(0, unbiased=False), sigma.std(0, unbiased=False))
                with torch.no_grad():
                    for buf, value in zip((self.mu_mean, self.mu_std, self.sigma_std), stats):
                        buf.lerp_(value.detach(), self.momentum)
            else:
                stats = (self.mu_mean, self.mu_std, self.sigma_std)
            mean, std, sstd = stats
            return self.lambda_mu * (mu - mean) / (std + 1e-6), sigma / (2 * sstd + 1e-6)

        @torch.no_grad()
        def calibrate(self, mu, sigma):
            """Set the running statistics to those of a whole data set (after training)."""
            self.mu_mean.copy_(mu.mean(0))
            self.mu_std.copy_(mu.std(0, unbiased=False))
            self.sigma_std.copy_(sigma.std(0, unbiased=False))

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*enc, nn.Flatten())
            self.to_latent = nn.Linear(flat, 2 * cfg.latent)  # output layer: no BN/ReLU
            self.norm = EncodingNorm(cfg.latent, cfg.lambda_mu)
            self.from_latent = nn.Sequential(nn.Linear(cfg.latent, flat, bias=False),
                                             nn.BatchNorm1d(flat), nn.ReLU(inplace=True))
            self.generator = nn.Sequential(*gen)
            self.blur = nn.Conv2d(1, 1, 5, padding=2, padding_mode="reflect", bias=False)
            self.blur.weight.data[:] = torch.from_numpy(_gaussian_kernel(5, 2.5))
            self.blur.weight.requires_grad_(False)

        def raw(self, x):
            """Encoder outputs before encoding normalisation; |x| keeps sigma positive."""
            if cfg.blur:
                x = self.blur(x)
            mu, sigma = self.to_latent(self.features(x)).chunk(2, dim=1)
            return mu, sigma.abs()

        def encode(self, x):
            return self.norm(*self.raw(x))

        def generate(self, z):
            return self.generator(self.from_latent(z).view(len(z), chans[-1], 6, 6))

    return VAE()


def _gaussian_kernel(size: int, std: float) -> np.ndarray:
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-r ** 2 / (2 * std ** 2))
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)[None, None]


def _sobel(x):
    """Horizontal and vertical Sobel derivatives, concatenated along channels (reflect padding)."""
    torch = _torch()
    f = torch.nn.functional
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=x.device)
    kernels = torch.stack([kx, kx.T])[:, None]
    return f.conv2d(f.pad(x, (1, 1, 1, 1), mode="reflect"), kernels)


def vae_loss(model: Any, x: Any, cfg: VAEConfig) -> tuple[Any, dict[str, float]]:
    """The paper's eq. 11: 50 MSE + 50 Sobel MSE + MSE(sigma, 1), on one batch in [0, 1]."""
    torch = _torch()
    f = torch.nn.functional
    target = model.blur(x) if cfg.blur else x
    mu, sigma = model.encode(x)
    z = mu + sigma * torch.randn_like(sigma)
    out = model.generate(z)
    mse = f.mse_loss(out, target)
    sobel = f.mse_loss(_sobel(out), _sobel(target))
    reg = f.mse_loss(sigma, torch.ones_like(sigma))
    loss = cfg.lambda_mse * mse + cfg.lambda_sobel * sobel + reg
    return loss, {"mse": mse.item(), "sobel": sobel.item(), "sigma": reg.item()}


def learning_rate(t: int, cfg: VAEConfig) -> float:
    """Stepwise exponential decay (paper eq. 12): lr * decay ** floor(steps * t / T)."""
    return cfg.lr * cfg.lr_decay ** math.floor(cfg.lr_steps * t / max(cfg.iterations, 1))


def demon_beta1(t: int, cfg: VAEConfig) -> float:
    """DEMON momentum decay (paper eq. 13) from ``beta1_start`` to 0 at the last iteration."""
    frac = 1 - t / max(cfg.iterations, 1)
    b = cfg.beta1_start
    return b * frac / ((1 - b) + b * frac)


def _augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random one of the eight flips and 90 degree rotations, per image."""
    out = np.empty_like(x)
    for i, (k, flip) in enumerate(zip(rng.integers(0, 4, len(x)), rng.integers(0, 2, len(x)))):
        img = np.rot90(x[i], k)
        out[i] = img[:, ::-1] if flip else img
    return out


class VAEEncoder:
    """A trained VAE: encodes images to normalised (mu, sigma) and generates from latents."""

    method = "vae"

    def __init__(self, model: Any, cfg: VAEConfig, history: Optional[list[dict]] = None):
        self.model = model.eval()
        self.cfg = cfg
        self.history = history or []

    def calibrate(self, scaled: np.ndarray, batch_size: int = 256) -> None:
        """Fix encoding normalisation to the statistics of the whole training set, so that
        encodings do not depend on the last batches seen (like precise batch-norm statistics)."""
        torch = _torch()
        with torch.inference_mode():
            raw = [self.model.raw(torch.from_numpy(scaled[a:a + batch_size, None]))
                   for a in range(0, len(scaled), batch_size)]
            self.model.norm.calibrate(torch.cat([r[0] for r in raw]), torch.cat([r[1] for r in raw]))

    def encode(self, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        torch = _torch()
        x = minmax(check_images(images))
        mus, sigmas = [], []
        with torch.inference_mode():
            for a in range(0, len(x), batch_size):
                mu, sigma = self.model.encode(torch.from_numpy(x[a:a + batch_size, None]))
                mus.append(mu.numpy())
                sigmas.append(sigma.numpy())
        return np.concatenate(mus), np.concatenate(sigmas)

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """Generator outputs from the latent means (for checking what the VAE learned)."""
        torch = _torch()
        with torch.inference_mode():
            mu, _ = self.model.encode(torch.from_numpy(minmax(check_images(images))[:, None]))
            return self.model.generate(mu)[:, 0].numpy()

    def save(self, folder: Path) -> None:
        torch = _torch()
        folder = Path(folder)
        with atomic_path(folder / "vae.pt") as tmp:
            torch.save(self.model.state_dict(), tmp)
        write_json(folder / "vae.json", {"config": asdict(self.cfg), "history": self.history})

    @classmethod
    def load(cls, folder: Path) -> "VAEEncoder":
        torch = _torch()
        info = json.loads((Path(folder) / "vae.json").read_text())
        cfg = VAEConfig(**info["config"])
        model = _build_vae(cfg)
        model.load_state_dict(torch.load(Path(folder) / "vae.pt", map_location="cpu", weights_only=True))
        return cls(model, cfg, info.get("history"))


def train_vae(images: np.ndarray, cfg: VAEConfig = VAEConfig(), progress: bool = True) -> Embedding:
    """Train the paper's VAE on [N, 96, 96] images and encode them all."""
    torch = _torch()
    from tqdm.auto import tqdm

    x = minmax(check_images(images))
    if len(x) < 2:
        raise EmbeddingError(f"the VAE needs at least 2 images for batch statistics, got {len(x)}.")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = _build_vae(cfg).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    batch = min(cfg.batch_size, len(x))
    history: list[dict] = []
    bar = tqdm(range(cfg.iterations), desc="train VAE", unit="it", disable=not progress)
    for t in bar:
        for group in opt.param_groups:
            group["lr"] = learning_rate(t, cfg)
            group["betas"] = (demon_beta1(t, cfg), group["betas"][1])
        xb = x[rng.choice(len(x), batch, replace=False)]
        if cfg.augment:
            xb = _augment(xb, rng)
        loss, parts = vae_loss(model, torch.from_numpy(np.ascontiguousarray(xb[:, None])), cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if t % 50 == 0 or t == cfg.iterations - 1:
            history.append({"iteration": t, "loss": loss.item(), **parts})
            bar.set_postfix(loss=f"{loss.item():.3f}")
    enc = VAEEncoder(model, cfg, history)
    enc.calibrate(x)
    means, sigmas = enc.encode(images)
    return Embedding("vae", means, sigmas, enc)


