"""Simulated micrographs for the synthetic stand-in: STEM (HAADF / bright field), TEM phase
contrast and focal series, from atomic models of real crystal structures.

The structures are the P1 cells of :func:`wemd.simulation.cif.read_cif`
(:class:`wemd.simulation.cif.Crystal`), wrapped in an :class:`ImagedStructure` that adds the
label written into item metadata and the zone axes the structure is viewed along.

Physics, kept honest but cheap:

* Crystals are projected exactly along a zone axis: the atoms of one unit cell are projected
  onto the plane normal to ``[uvw]`` and tiled with the projected 2-D lattice; each column holds
  ``thickness / |d_uvw|`` copies of its atom (static lattice, on zone).
* STEM HAADF is incoherent: intensity = probe (Gaussian) convolved with columns weighted by
  ``Z ** 1.7``; bright field is the complementary loss of intensity from a bright background.
  Scan distortions (drift shear, line jitter), scan-line gain noise, Poisson counting noise and
  detector gain / offset follow. Low magnification images show nanoparticles (mass-thickness
  contrast) on an amorphous carbon support.
* TEM: a weak-phase / mass-thickness exit wave (crystal and amorphous regions) is imaged through
  a contrast transfer function with defocus, spherical aberration, an objective aperture and
  partial-coherence envelopes (temporal: defocus spread, spatial: convergence), then Poisson
  noise at a dose in electron counts per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional, Sequence

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from wemd import curation
from wemd.simulation.cif import Crystal
from wemd.simulation.geometry import orientation


@dataclass(frozen=True)
class ImagedStructure:
    """A crystal as the micrographs show it: its P1 cell (``crystal``), the label recorded in
    item metadata (``name``, the formula) and the zone axes it is viewed along."""

    crystal: Crystal
    name: str
    zones: tuple[tuple[int, int, int], ...]

    @classmethod
    def from_cif(cls, crystal: Crystal) -> ImagedStructure:
        """Zone axes [001], [011], [111] for cubic cells; [001], [100], [110] otherwise."""
        cell = np.asarray(crystal.cell, float)
        lengths = np.linalg.norm(cell, axis=1)
        cubic = np.allclose(lengths, lengths[0], rtol=1e-3) and np.allclose(
            cell @ cell.T, np.diag(lengths**2), atol=1e-3 * lengths[0] ** 2)
        zones = ((0, 0, 1), (0, 1, 1), (1, 1, 1)) if cubic else ((0, 0, 1), (1, 0, 0), (1, 1, 0))
        return cls(crystal, crystal.formula.replace(" ", "") or crystal.name, zones)

    def site_weights(self, power: float) -> np.ndarray:
        """Occupancy-weighted ``Z ** power`` of every site (mixed sites average)."""
        return np.array([sum(o * z**power for z, o in zip(zs, os_))
                         for zs, os_ in zip(self.crystal.candidates, self.crystal.occupancies)])

    @property
    def max_z(self) -> int:
        return max(self.crystal.species)


def projected_cell(crystal: Crystal, zone: tuple[int, int, int]
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """(2-D lattice basis 2x2, projected sites Nx2, repeat distance |d_uvw|) along a zone axis."""
    rot = orientation(crystal.cell, zone, (0, 0, 0))
    period = float(np.linalg.norm(np.asarray(zone, float) @ crystal.cell))
    area = abs(np.linalg.det(crystal.cell)) / period
    r = np.arange(-4, 5)
    ijk = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    vecs = (ijk @ crystal.cell @ rot.T)[:, :2]
    lengths = np.linalg.norm(vecs, axis=1)
    order = np.argsort(lengths, kind="stable")
    vecs, lengths = vecs[order], lengths[order]
    p1 = vecs[lengths > 1e-6][0]
    cross = np.abs(p1[0] * vecs[:, 1] - p1[1] * vecs[:, 0])
    p2 = vecs[np.isclose(cross, area, rtol=1e-6)][0]
    sites = (crystal.fractional @ crystal.cell @ rot.T)[:, :2]
    return np.stack([p1, p2]), sites, period


def crystal_columns(structure: ImagedStructure, zone: tuple[int, int, int],
                    extent: tuple[float, float], angle: float,
                    origin: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Atom-column positions (Angstrom, Nx2) covering ``extent`` (h, w), the site index of each
    column in the unit cell, and the repeat distance |d_uvw| along the beam."""
    basis, sites, period = projected_cell(structure.crystal, zone)
    c, s = np.cos(angle), np.sin(angle)
    rot2 = np.array([[c, -s], [s, c]])
    basis, sites = basis @ rot2.T, sites @ rot2.T
    corners = np.array([[0, 0], [extent[1], 0], [0, extent[0]], [extent[1], extent[0]]]) - origin
    coeff = corners @ np.linalg.inv(basis)
    lo, hi = np.floor(coeff.min(0)) - 2, np.ceil(coeff.max(0)) + 2
    i, j = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
    cells = np.stack([i.ravel(), j.ravel()], 1) @ basis + origin
    xy = (cells[:, None, :] + sites[None, :, :]).reshape(-1, 2)
    site = np.tile(np.arange(len(sites)), len(cells))
    keep = ((xy[:, 0] > -5) & (xy[:, 0] < extent[1] + 5) & (xy[:, 1] > -5)
            & (xy[:, 1] < extent[0] + 5))
    return xy[keep], site[keep], period


def splat(xy_px: np.ndarray, weights: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Deposit point weights (x, y in pixels) on a grid with bilinear weights."""
    h, w = shape
    x0, y0 = np.floor(xy_px[:, 0]).astype(np.int64), np.floor(xy_px[:, 1]).astype(np.int64)
    fx, fy = xy_px[:, 0] - x0, xy_px[:, 1] - y0
    out = np.zeros(h * w)
    for dx, dy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                       (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xs, ys = x0 + dx, y0 + dy
        ok = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        out += np.bincount(ys[ok] * w + xs[ok], weights=(weights * wt)[ok], minlength=h * w)
    return out.reshape(h, w)


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """A zero-mean, unit-variance Gaussian random field with correlation length ``scale_px``."""
    ky = sfft.fftfreq(shape[0])[:, None]
    kx = sfft.rfftfreq(shape[1])[None, :]
    gauss = np.exp(-2 * np.pi**2 * max(scale_px, 0.5) ** 2 * (kx**2 + ky**2)).astype(np.float32)
    field = sfft.irfft2(sfft.rfft2(rng.standard_normal(shape, dtype=np.float32)) * gauss, s=shape)
    return (field - field.mean()) / (field.std() + 1e-12)


def _region_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A crystal region: the whole field, or the part beyond a straight, slightly rough edge."""
    h, w = shape
    if rng.random() < 0.6:
        return np.ones(shape, bool)
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    dist = (xx - w / 2) * np.cos(theta) + (yy - h / 2) * np.sin(theta)
    return dist + 0.02 * min(h, w) * smooth_field(rng, shape, min(h, w) / 20) > \
        -rng.uniform(0.1, 0.35) * min(h, w)  # the crystal covers most of the field


def _particles(rng: np.random.Generator, shape: tuple[int, int], pixel: float,
               radius_nm: tuple[float, float], count: int) -> tuple[np.ndarray, list[dict]]:
    """Projected thickness (Angstrom) of ``count`` spherical/ellipsoidal particles."""
    h, w = shape
    thick = np.zeros(shape)
    info = []
    for _ in range(count):
        r = rng.uniform(*radius_nm) * 10 / pixel  # pixels
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        e = rng.uniform(0.75, 1.0)
        y0, y1 = int(max(0, cy - r - 1)), int(min(h, cy + r + 2))
        x0, x1 = int(max(0, cx - r - 1)), int(min(w, cx + r + 2))
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        rho2 = ((yy - cy) / e) ** 2 + (xx - cx) ** 2
        thick[y0:y1, x0:x1] += 2 * np.sqrt(np.clip(r * r - rho2, 0, None)) * pixel
        info.append({"radius_nm": round(r * pixel / 10, 2)})
    return thick, info


# ----------------------------------------------------------------------------------------- STEM

#: Image kinds and their shares; atom columns show in 'atomic' and 'particles_atomic' (~2/3).
STEM_KINDS = {"atomic": 0.5, "particles_atomic": 0.17, "low_mag": 0.33}
STEM_SPECIAL = ("incomplete", "blank", "noise_only")


@dataclass
class StemStyle:
    """A contributor's habits: sample, detector, image sizes, dose and scan speed."""

    crystals: tuple[ImagedStructure, ...]
    bright_field: float
    sizes: tuple[tuple[int, int], ...]
    dose: float
    gain: float
    offset: float


def stem_style(rng: np.random.Generator, crystals: Sequence[ImagedStructure]) -> StemStyle:
    """A contributor studying one or two of ``crystals``."""
    pick = rng.choice(len(crystals), size=min(len(crystals), int(rng.integers(1, 3))), replace=False)
    chosen = tuple(crystals[int(i)] for i in pick)
    all_sizes = [(256, 256), (512, 512), (512, 1024), (768, 768), (1024, 1024), (1024, 1536),
                 (1536, 1536)]
    pick = rng.choice(len(all_sizes), size=3, replace=False, p=[.08, .22, .1, .15, .25, .1, .1])
    return StemStyle(crystals=chosen, bright_field=float(rng.choice([0.1, 0.5, 0.9])),
                     sizes=tuple(all_sizes[i] for i in pick), dose=float(rng.uniform(15, 120)),
                     gain=float(rng.choice([1.0, 4.0, 16.0])),
                     offset=float(rng.choice([0.0, 100.0, 2000.0])))


def _probe(img: np.ndarray, sigma_a: float, pixel: float) -> np.ndarray:
    return ndimage.gaussian_filter(img, max(sigma_a / pixel, 0.3), mode="nearest")


def _stem_atomic(rng, shape, pixel, style, with_particles):
    h, w = shape
    extent = (h * pixel, w * pixel)
    crystal = style.crystals[int(rng.integers(len(style.crystals)))]
    zone = crystal.zones[int(rng.integers(len(crystal.zones)))]
    xy, site, period = crystal_columns(crystal, zone, extent, rng.uniform(0, np.pi),
                                    rng.uniform(0, 10, 2))
    px = xy / pixel
    if with_particles:
        thick, parts = _particles(rng, shape, pixel, (1.5, 6.0), int(rng.integers(1, 4)))
        amorph = 30.0
    else:
        thick = rng.uniform(40, 400) * _region_mask(rng, shape) * \
            (1 + 0.15 * smooth_field(rng, shape, min(h, w) / 8))
        parts, amorph = [], rng.uniform(0, 40)
    iy = np.clip(px[:, 1].astype(int), 0, h - 1)
    ix = np.clip(px[:, 0].astype(int), 0, w - 1)
    weights = crystal.site_weights(1.7)[site] * np.clip(thick[iy, ix], 0, None) / period
    columns = splat(px, weights, shape) / pixel**2  # per square Angstrom
    carbon = _carbon(rng, shape, pixel, amorph)
    signal = _probe(columns + carbon, rng.uniform(0.3, 0.6), pixel)
    meta = {"crystal": crystal.name, "zone": list(zone), "pixel_size_A": round(pixel, 4),
            "mean_thickness_A": round(float(thick.mean()), 1)}
    if parts:
        meta["particles"] = parts
    return signal, meta


def _carbon(rng, shape, pixel, thickness):
    """Amorphous carbon support: Poisson atom counts per pixel (density 0.1 / A^3), Z^1.7."""
    if thickness <= 0:
        return np.zeros(shape)
    lam = 0.1 * thickness * pixel**2
    texture = 1 + 0.2 * smooth_field(rng, shape, 20 / pixel + 1)
    return rng.poisson(np.clip(lam * texture, 0, None)) * 6**1.7 / pixel**2


def _stem_low_mag(rng, shape, pixel, style):
    z = max(c.max_z for c in style.crystals)
    thick, parts = _particles(rng, shape, pixel, (2, 40), int(rng.integers(5, 120)))
    carbon_t = 150 * (1 + 0.3 * smooth_field(rng, shape, 50)).clip(0.2)
    mass = 0.05 * (z ** 1.7) * thick + 0.1 * 6 ** 1.7 * carbon_t
    signal = _probe(mass, 5.0, pixel)
    return signal, {"pixel_size_A": round(pixel, 3), "particles": len(parts), "max_Z": int(z)}


def _scan(rng: np.random.Generator, signal: np.ndarray) -> tuple[np.ndarray, dict]:
    """Scan distortions of a raster: slow drift (shear, stretch) and fast line jitter."""
    h, w = signal.shape
    shear, stretch = rng.normal(0, 0.03), rng.normal(1, 0.02)
    jitter = rng.normal(0, rng.uniform(0.1, 0.8), h)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    coords = [yy * stretch, xx + shear * yy + jitter[:, None]]
    out = ndimage.map_coordinates(signal, coords, order=1, mode="nearest")
    return out, {"drift_shear": round(float(shear), 4), "line_jitter_px": round(float(jitter.std()), 3)}


def _detect(rng, expected: np.ndarray, style: StemStyle, line_noise: float) -> np.ndarray:
    """Poisson counting, scan-line gain noise, detector gain and offset (original intensities)."""
    h = expected.shape[0]
    lines = 1 + line_noise * rng.standard_normal((h, 1))
    counts = rng.poisson(np.clip(expected * lines, 0, None))
    return (counts * style.gain + style.offset + rng.normal(0, 1.5, expected.shape)).astype(np.float32)


def stem_image(rng: np.random.Generator, style: StemStyle, kind: Optional[str] = None,
               special: Optional[str] = None) -> tuple[np.ndarray, dict[str, Any]]:
    """One STEM image in original intensities (float32) and what it shows."""
    shape = style.sizes[int(rng.integers(len(style.sizes)))]
    kinds = list(STEM_KINDS)
    kind = kind or str(rng.choice(kinds, p=list(STEM_KINDS.values())))
    meta: dict[str, Any] = {"kind": kind, "shape": list(shape)}
    if special in ("blank", "noise_only"):
        level = 0.0 if special == "blank" else rng.uniform(1, 5)
        expected = np.full(shape, level)
        meta.update(kind=special, detector="HAADF")
        return _detect(rng, expected, style, 0.0), meta
    if kind == "low_mag":
        signal, info = _stem_low_mag(rng, shape, rng.uniform(2.0, 30.0), style)
    else:
        signal, info = _stem_atomic(rng, shape, rng.uniform(0.08, 0.3) if kind == "atomic"
                                    else rng.uniform(0.25, 0.5), style, kind == "particles_atomic")
    meta.update(info)
    signal = signal / (np.percentile(signal, 99.5) + 1e-12)
    bright = rng.random() < style.bright_field
    if bright:  # bright field: electrons scattered out of the BF disc are missing
        signal = 1.0 - 0.6 * np.clip(_probe(signal, 1.0, 1.0), 0, 1.5) / 1.5
    meta["detector"] = "BF" if bright else "HAADF"
    signal, distortion = _scan(rng, signal)
    meta.update(distortion)
    dose = style.dose * (4 if bright else 1)
    line_noise = float(rng.uniform(0.0, 0.08))
    meta.update(dose_counts=round(dose, 1), scan_line_noise=round(line_noise, 3))
    image = _detect(rng, signal * dose, style, line_noise)
    if special == "incomplete":
        stop = int(rng.uniform(0.2, 0.8) * shape[0])
        image[stop:] = 0.0
        meta.update(kind=f"incomplete {kind}", scanned_rows=stop)
    return image, meta


# ------------------------------------------------------------------------------------------ TEM

def wavelength_a(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Angstrom (from the simulation physics module)."""
    from wemd.simulation.physics import wavelength

    return wavelength(voltage_kv * 1e3)


@lru_cache(maxsize=4)
def _k_squared(shape: tuple[int, int], pixel: float) -> np.ndarray:
    """|k|^2 (1/Angstrom^2, float32, FFT order) of a grid; cached for focal series."""
    ky = sfft.fftfreq(shape[0], pixel).astype(np.float32)[:, None]
    kx = sfft.fftfreq(shape[1], pixel).astype(np.float32)[None, :]
    return kx * kx + ky * ky


@dataclass
class Optics:
    """CTEM imaging conditions (Angstrom, radians)."""

    voltage_kv: float
    defocus: float  # Angstrom, positive = underfocus (Scherzer convention)
    cs: float  # Angstrom
    focus_spread: float  # Angstrom (temporal coherence)
    convergence: float  # rad (spatial coherence)
    aperture: float  # rad, objective aperture semi-angle

    def transfer(self, shape: tuple[int, int], pixel: float) -> np.ndarray:
        """Coherent transfer function exp(-i chi) times partial-coherence envelopes and aperture,
        chi(k) = pi lambda k^2 (Cs lambda^2 k^2 / 2 - defocus) (Kirkland's convention)."""
        lam = wavelength_a(self.voltage_kv)
        k2 = _k_squared(tuple(shape), float(pixel))
        k = np.sqrt(k2)
        chi = np.float32(np.pi * lam) * k2 * (np.float32(0.5 * self.cs * lam**2) * k2
                                               - np.float32(self.defocus))
        temporal = np.float32(-0.5 * (np.pi * lam * self.focus_spread) ** 2) * k2 * k2
        grad = k * (np.float32(self.cs * lam**2) * k2 - np.float32(self.defocus))
        spatial = np.float32(-(np.pi * self.convergence) ** 2) * grad * grad
        envelope = np.exp(temporal + spatial) * (k2 <= np.float32((self.aperture / lam) ** 2))
        out = np.empty(k2.shape, np.complex64)
        np.multiply(envelope, np.cos(chi), out=out.real)
        np.multiply(envelope, -np.sin(chi), out=out.imag)
        return out

    def as_dict(self) -> dict[str, float]:
        return {"voltage_kv": self.voltage_kv, "defocus_nm": round(self.defocus / 10, 2),
                "cs_mm": round(self.cs / 1e7, 4), "focus_spread_nm": round(self.focus_spread / 10, 2),
                "convergence_mrad": round(self.convergence * 1e3, 3),
                "aperture_mrad": round(self.aperture * 1e3, 2)}


def random_optics(rng: np.random.Generator, pixel: float, high_resolution: bool) -> Optics:
    cs = float(rng.choice([1.0e7, 0.5e7, -0.01e7]))  # JEOL 2000/2100, 2100+, corrected ARM
    if high_resolution:
        defocus = rng.uniform(-300, 600)
        aperture = 0.03
    else:  # low magnification: large defocus gives Fresnel fringes; aperture for contrast
        defocus = rng.uniform(-2e4, 2e4)
        aperture = min(0.01, 0.9 * wavelength_a(200) / (2 * pixel))
    return Optics(voltage_kv=200.0, defocus=float(defocus), cs=cs,
                  focus_spread=float(rng.uniform(20, 60)), convergence=float(rng.uniform(1e-4, 5e-4)),
                  aperture=float(aperture))


def exit_wave(rng: np.random.Generator, shape: tuple[int, int], pixel: float,
              crystals: Sequence[ImagedStructure]) -> tuple[np.ndarray, dict[str, Any]]:
    """A phase-object exit wave: crystal columns and amorphous carbon (HRTEM), or particles with
    mass-thickness absorption on a carbon film (low magnification)."""
    crystal = crystals[int(rng.integers(len(crystals)))]
    if pixel < 1.0:
        zone = crystal.zones[int(rng.integers(len(crystal.zones)))]
        xy, site, period = crystal_columns(crystal, zone, (shape[0] * pixel, shape[1] * pixel),
                                        rng.uniform(0, np.pi), rng.uniform(0, 10, 2))
        thick = rng.uniform(30, 200) * _region_mask(rng, shape)
        px = xy / pixel
        iy = np.clip(px[:, 1].astype(int), 0, shape[0] - 1)
        ix = np.clip(px[:, 0].astype(int), 0, shape[1] - 1)
        weights = crystal.site_weights(0.75)[site] * thick[iy, ix] / period
        pot = splat(px, weights, shape) / pixel**2
        pot = pot + _carbon(rng, shape, pixel, rng.uniform(15, 50)) / 6**1.7 * 6**0.75
        pot = ndimage.gaussian_filter(pot, 0.35 / pixel)
        phase, absorb = 0.004 * pot, 0.0004 * pot
        meta = {"crystal": crystal.name, "zone": list(zone), "regime": "HRTEM"}
    else:
        thick, parts = _particles(rng, shape, pixel, (3, 60), int(rng.integers(4, 60)))
        carbon = 200 * (1 + 0.2 * smooth_field(rng, shape, 30 / pixel + 1)).clip(0.1)
        zmax = crystal.max_z
        phase = 7.3e-4 * (20 * thick + 10 * carbon)  # sigma (rad / V A) * inner potential * t
        absorb = thick * zmax / 3e4 + carbon / 1e5
        meta = {"crystal": crystal.name, "regime": "low magnification", "particles": len(parts)}
    amplitude = np.exp(-absorb).astype(np.float32)
    wave = np.empty(shape, np.complex64)
    np.multiply(amplitude, np.cos(phase, dtype=np.float32), out=wave.real)
    np.multiply(amplitude, np.sin(phase, dtype=np.float32), out=wave.imag)
    return wave, meta


def tem_raw(rng: np.random.Generator, crystals: Sequence[ImagedStructure], shape: tuple[int, int],
            dose: float) -> tuple[np.ndarray, dict[str, Any]]:
    """An uncurated TEM image in electron counts: exit wave -> CTF -> Poisson at ``dose``."""
    high_res = rng.random() < 0.6
    pixel = float(rng.uniform(0.12, 0.3) if high_res else rng.uniform(3.0, 20.0))
    wave, meta = exit_wave(rng, shape, pixel, crystals)
    optics = random_optics(rng, pixel, high_res)
    image_wave = sfft.ifft2(sfft.fft2(wave, overwrite_x=True) * optics.transfer(shape, pixel),
                            overwrite_x=True)
    intensity = image_wave.real ** 2 + image_wave.imag ** 2
    counts = rng.poisson(np.clip(intensity, 0, None) * dose).astype(np.float32)
    meta.update(optics.as_dict(), pixel_size_A=round(pixel, 3), raw_shape=list(shape),
                dose_counts_per_px=round(dose, 1))
    return counts, meta


def focal_series(rng: np.random.Generator, crystals: Sequence[ImagedStructure], n: int = 14,
                 size: int = 512, oversample: int = 2) -> tuple[np.ndarray, dict[str, Any]]:
    """``n`` images of one exit wave at quadratically increasing defocus, area-downsampled."""
    shape = (size * oversample, size * oversample)
    pixel = float(rng.uniform(0.1, 0.3))
    wave, meta = exit_wave(rng, shape, pixel, crystals)
    optics = random_optics(rng, pixel, True)
    start, step = float(rng.uniform(-200, 0)), float(rng.uniform(1.0, 4.0))
    dose = float(rng.uniform(500, 3000))
    spectrum = sfft.fft2(wave)
    frames, defoci = [], []
    for k in range(n):
        optics.defocus = start + step * k * k
        defoci.append(round(optics.defocus / 10, 3))
        image_wave = sfft.ifft2(spectrum * optics.transfer(shape, pixel), overwrite_x=True)
        counts = rng.poisson(np.clip(image_wave.real ** 2 + image_wave.imag ** 2, 0, None) * dose)
        frames.append(curation.area_resize(counts.astype(np.float32), (size, size)))
    meta.update(optics.as_dict(), defocus_nm=defoci, pixel_size_A=round(pixel * oversample, 4),
                dose_counts_per_simulated_px=round(dose, 1), simulated_shape=list(shape))
    return np.stack(frames), meta
