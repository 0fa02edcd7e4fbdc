"""The multislice engine of :mod:`wemd.simulation.multislice` in PyTorch, for CPUs and GPUs.

Same physics and the same numbers (single precision): the per-species Fourier filters,
propagators and aperture are built once by the NumPy engine's code and moved to the device; the
Gaussian spreading, FFTs, transmission and propagation run as torch operations on that device
(nothing is moved back to the host until the exit wave is done). The species of one slice are
spread, transformed and filtered as one batch.

Draws are not batched together: each draw has its own box width, hence its own pixel size,
propagator and filters, and its own depth, so a batch would pad every draw to the largest; the
GPU is kept busy by the per-slice batch of species and by running one draw per worker.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from wemd.errors import require
from wemd.simulation.multislice import (SPREAD_HALF, SPREAD_SIGMA, Atoms, Grid, NormRecord,
                                        SlicePotentials, slice_indices)
from wemd.simulation.physics import interaction_constant, wavelength


def torch_device(device: str) -> Any:
    """A torch device, or a :class:`~wemd.simulation.backends.BackendError` naming the fix."""
    from wemd.simulation.backends import BackendError

    torch = require("torch", "torch")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise BackendError(f"--device {device!r} is not a torch device ({exc}); use cpu, cuda or "
                           "cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"--device {device}: this torch build sees no CUDA GPU "
                           f"(torch {torch.__version__}); use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise BackendError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s)")
    return dev


def _intensity(torch: Any, psi: Any) -> Any:
    """Mean |psi|^2 as a 0-d tensor on psi's device (no host synchronisation per slice)."""
    return torch.vdot(psi.reshape(-1), psi.reshape(-1)).real / psi.numel()


def multislice_torch(atoms: Atoms, grid: Grid, voltage: float, slice_thickness: float = 1.0,
                     terms: int = 3, device: str = "cpu",
                     record: Optional[NormRecord] = None) -> np.ndarray:
    """Exit wave (complex64 NumPy array) of a unit plane wave through ``atoms``, computed on
    ``device``; the same algorithm as :func:`wemd.simulation.multislice.multislice`."""
    torch = require("torch", "torch")
    dev = torch_device(device)
    nx, ny = grid.shape
    dx, dy = grid.sampling
    n_slices = max(1, int(np.ceil(atoms.box[2] / slice_thickness - 1e-9)))
    species = atoms.species
    lam = wavelength(voltage)
    sigma = float(np.float32(interaction_constant(voltage)))

    filters = SlicePotentials(grid, species, terms).filters
    filt = torch.from_numpy(np.stack([filters[z] for z in species])).to(dev)  # [S, nx, ny//2+1]
    mask = torch.from_numpy(grid.band_limit_mask().astype(np.complex64)).to(dev)
    kx, ky = grid.frequencies()
    k2 = torch.from_numpy(kx ** 2 + ky ** 2).to(dev)  # float64, as the NumPy engine's phase
    propagators: dict[int, Any] = {}

    def propagator(n: int) -> Any:
        if n not in propagators:
            phase = -np.pi * lam * (n * slice_thickness) * k2
            propagators[n] = (torch.polar(torch.ones_like(phase), phase) * mask).to(torch.complex64)
        return propagators[n]

    # atoms sorted by slice, moved once; per atom: species index, base pixel and 1-D weights
    index = slice_indices(atoms.positions[:, 2], slice_thickness, n_slices)
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(n_slices + 1))
    xy = atoms.positions[order, :2] / np.asarray(grid.sampling)
    base = np.floor(xy).astype(np.int64)
    offsets = np.arange(-SPREAD_HALF, SPREAD_HALF + 1)
    weights = []
    for axis in (0, 1):
        w = np.exp(-0.5 * ((offsets[None, :] - (xy - base)[:, axis:axis + 1]) / SPREAD_SIGMA) ** 2)
        weights.append(torch.from_numpy(w / w.sum(axis=1, keepdims=True)).to(dev))
    ix = torch.from_numpy((base[:, 0:1] + offsets[None, :]) % nx).to(dev)
    iy = torch.from_numpy((base[:, 1:2] + offsets[None, :]) % ny).to(dev)
    kind = torch.from_numpy(np.searchsorted(species, atoms.numbers[order])).to(dev)

    # intensity bookkeeping stays on the device; one transfer at the end
    zero = torch.zeros((), dtype=torch.float32, device=dev)
    change, loss, t_max = zero.clone(), zero.clone(), zero + 1
    psi = torch.ones((nx, ny), dtype=torch.complex64, device=dev)
    current, pending = zero + 1, 0
    for i in range(n_slices):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        if hi > lo:
            if pending:
                psi = torch.fft.ifft2(torch.fft.fft2(psi) * propagator(pending))
                after = _intensity(torch, psi)
                loss += current - after
                current = after
            w = (weights[0][lo:hi, :, None] * weights[1][lo:hi, None, :]).reshape(-1)
            flat = (kind[lo:hi, None, None] * (nx * ny) + ix[lo:hi, :, None] * ny
                    + iy[lo:hi, None, :]).reshape(-1)
            spread = torch.zeros(len(species) * nx * ny, dtype=torch.float64, device=dev)
            spread.index_add_(0, flat, w)
            spectrum = torch.fft.rfft2(spread.reshape(len(species), nx, ny).to(torch.float32))
            phase = torch.fft.irfft2((spectrum * filt).sum(dim=0), s=(nx, ny)) * sigma
            t = torch.fft.ifft2(torch.fft.fft2(torch.polar(torch.ones_like(phase), phase)) * mask)
            t_max = torch.maximum(t_max, t.abs().max())
            psi = psi * t
            after = _intensity(torch, psi)
            change += after - current
            current, pending = after, 0
        pending += 1
    psi = torch.fft.ifft2(torch.fft.fft2(psi) * propagator(pending))
    final = _intensity(torch, psi)
    loss += current - final
    if record is not None:
        record.intensity, record.transmission_change = float(final), float(change)
        record.band_limit_loss, record.max_transmission = float(loss), float(t_max)
    return psi.cpu().numpy().astype(np.complex64, copy=False)
