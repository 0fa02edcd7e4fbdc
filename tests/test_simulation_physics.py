"""Physics acceptance tests of the built-in multislice engine (and its agreement with abTEM)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import j0

from wemd.simulation.cif import read_cif
from wemd.simulation.examples import write_example_cifs
from wemd.simulation.geometry import build_specimen
from wemd.simulation.multislice import BAND_LIMIT, Atoms, Grid, SlicePotentials, multislice
from wemd.simulation.physics import (interaction_constant, projected_potential,
                                     projected_potential_fourier, wavelength)


def _crystal(tmp_path, name):
    (path,) = write_example_cifs(tmp_path, [name])
    return read_cif(path)


def _specimen(tmp_path, name, width=12.0, depth=20.0, zone=(0, 0, 1)):
    crystal = _crystal(tmp_path, name)
    return build_specimen(crystal, zone, (0.02, -0.03, 0.01), width, depth,
                          np.random.default_rng(0))


def test_electron_optics_match_reference_values():
    # Kirkland (2010) table 2.2: 200 kV -> lambda 0.02508 A, sigma 0.0007288 /(V A)
    assert wavelength(200e3) == pytest.approx(0.025079, abs=2e-6)
    assert interaction_constant(200e3) == pytest.approx(7.2884e-4, rel=1e-4)
    assert interaction_constant(80e3) > interaction_constant(300e3)


def test_fourier_potential_is_the_transform_of_the_real_space_one():
    # the 2-D transform of a radial function is a Hankel transform: check v(k=0) and v(k=1)
    for z in (6, 38, 79):
        for k in (0.0, 1.0):
            integral = quad(lambda r: 2 * np.pi * r * projected_potential(z, r) * j0(2 * np.pi * k * r),
                            0, 40, limit=400, points=[0.01, 0.1, 1])[0]
            assert projected_potential_fourier(z, np.array(k * k)) == pytest.approx(integral, rel=1e-4)


def test_weak_phase_single_slice_matches_analytic_kirkland_potential():
    """One thin slice of one atom: phase = sigma v_z(r) of the analytic potential.

    Compared with the analytic v_z seen through the same 2/3 aperture, computed by a direct
    Hankel transform (no FFT, no spreading), away from the core where the phase is weak.
    """
    extent, n, z = 25.6, 256, 14
    grid = Grid((n, n), (extent, extent))
    centre = (extent / 2 + 0.037, extent / 2 - 0.021)  # off the pixel grid on purpose
    wave = multislice(Atoms([[*centre, 0.5]], [z], (extent, extent, 1.0)), grid, 300e3)
    phase = np.angle(wave)
    sigma = interaction_constant(300e3)
    k_cut = BAND_LIMIT / (2 * extent / n)
    radii = np.linspace(0, 4, 81)
    v_band = [quad(lambda k: 2 * np.pi * k * projected_potential_fourier(z, k * k)
                   * j0(2 * np.pi * k * r), 0, k_cut, limit=200)[0] for r in radii]
    x = np.arange(n) * extent / n
    r = np.hypot(x[:, None] - centre[0], x[None, :] - centre[1])
    expected = sigma * np.interp(r, radii, v_band)
    peak = expected.max()
    ring = (r >= 0.3) & (r < 4)
    assert np.abs(phase[ring] - expected[ring]).max() < 0.01 * peak
    assert np.abs(phase[r < 4] - expected[r < 4]).max() < 0.05 * peak
    # and against the unfiltered analytic potential where the aperture no longer matters
    far = (r >= 1.0) & (r < 2.5)
    assert np.allclose(phase[far], sigma * projected_potential(z, r[far]), atol=0.03 * peak)


def test_projected_potential_integrates_to_its_forward_scattering_value():
    grid = Grid((256, 256), (25.6, 25.6))
    potential = SlicePotentials(grid, (14, 38))(np.array([[10.03, 11.71], [5.5, 19.2]]),
                                                 np.array([14, 38]))
    total = potential.sum() * np.prod(grid.sampling)
    expected = projected_potential_fourier(14, np.array(0.0)) + projected_potential_fourier(38, np.array(0.0))
    assert total == pytest.approx(float(expected), rel=1e-4)


def test_vacuum_leaves_a_plane_wave():
    grid = Grid((128, 128), (30.0, 30.0))
    wave = multislice(Atoms(np.zeros((0, 3)), np.zeros(0), (30.0, 30.0, 50.0)), grid, 200e3)
    assert wave.dtype == np.complex64
    assert np.abs(wave - 1).max() < 1e-5


def test_intensity_is_conserved_through_the_slices(tmp_path):
    """Only what scatters beyond the 2/3 aperture is lost, and less as the sampling refines."""
    atoms = _specimen(tmp_path, "SrTiO3", width=15.0, depth=50.0)
    losses = []
    for n in (256, 512):  # 0.12 and 0.06 A pixels
        seen = []
        wave = multislice(atoms, Grid((n, n), atoms.box[:2]), 200e3, progress=seen.append)
        assert seen[-1] == int(atoms.box[2])
        assert np.std(np.abs(wave)) > 0.05  # the crystal did scatter
        losses.append(1.0 - float(np.mean(np.abs(wave) ** 2)))
    assert 0 <= losses[1] < losses[0] / 2
    assert losses[0] < 1e-2


def test_n1_and_n3_universes_differ_measurably(tmp_path):
    atoms = _specimen(tmp_path, "SrTiO3", width=12.0, depth=30.0)
    grid = Grid((192, 192), atoms.box[:2])
    n3 = multislice(atoms, grid, 200e3, terms=3)
    n1 = multislice(atoms, grid, 200e3, terms=1)
    difference = np.linalg.norm(n1 - n3) / np.linalg.norm(n3)
    assert difference > 0.05


def test_engine_is_deterministic(tmp_path):
    atoms = _specimen(tmp_path, "GaAs", width=10.0, depth=10.0)
    grid = Grid((128, 128), atoms.box[:2])
    a = multislice(atoms, grid, 300e3)
    b = multislice(atoms, grid, 300e3)
    assert np.array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("terms", [3, 1])
def test_builtin_engine_agrees_with_abtem(tmp_path, terms):
    pytest.importorskip("abtem")
    from wemd.simulation.backends import AbtemBackend, NumpyBackend

    atoms = _specimen(tmp_path, "SrTiO3", width=12.0, depth=20.0, zone=(0, 1, 1))
    grid = Grid((448, 448), atoms.box[:2])  # 0.0625 A pixels, where both codes have converged
    ours = NumpyBackend().exit_wave_from_atoms(atoms, grid, 200.0, terms)
    theirs = AbtemBackend().exit_wave_from_atoms(atoms, grid, 200.0, terms)
    assert theirs.shape == ours.shape
    assert np.linalg.norm(ours - theirs) / np.linalg.norm(theirs) < 1e-2


def test_spread_potential_matches_the_exact_fourier_sum_at_protocol_sampling():
    """Gaussian spreading + deconvolution vs sum_atoms v_z(k) exp(-2 pi i k.r) on 0.2 A pixels."""
    n, extent = 128, 25.6
    grid = Grid((n, n), (extent, extent))
    rng = np.random.default_rng(1)
    xy, numbers = rng.uniform(0, extent, (12, 2)), rng.choice([8, 38, 79], 12)
    ours = SlicePotentials(grid, (8, 38, 79))(xy, numbers)
    kx, ky = grid.frequencies()
    spectrum = sum(projected_potential_fourier(int(z), kx**2 + ky**2)
                   * np.exp(-2j * np.pi * (kx * x + ky * y)) for (x, y), z in zip(xy, numbers))
    exact = np.fft.ifft2(spectrum).real / np.prod(grid.sampling)
    band = grid.band_limit_mask()
    error = np.fft.fft2(ours - exact)[band]
    assert np.linalg.norm(error) < 1e-2 * np.linalg.norm(np.fft.fft2(exact)[band])


def test_the_engine_module_is_not_hidden_by_the_function():
    import wemd.simulation.multislice as module

    assert module.BAND_LIMIT == BAND_LIMIT and callable(module.multislice)
