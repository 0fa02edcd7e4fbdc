"""Reference networks: shapes, output constraints and that each can learn its kind of mapping."""

import pytest

torch = pytest.importorskip("torch")

from wemd.baselines.models import MODELS, UnknownModelError, build_model  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    """Small convolutions run several times faster on one thread on a shared, loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name,cin,cout,scale", [("atrous-denoiser", 1, 1, 1),
                                                 ("partial-scan", 2, 1, 1),
                                                 ("supersampler", 1, 1, 2),
                                                 ("phase-recovery", 1, 2, 1)])
@pytest.mark.parametrize("size", [(32, 32), (30, 37)])
def test_shapes_for_any_input_size(name, cin, cout, scale, size):
    model = build_model(name, width=8)
    y = model(torch.rand(2, cin, *size))
    assert y.shape == (2, cout, size[0] * scale, size[1] * scale)
    assert torch.isfinite(y).all()


def test_phase_outputs_lie_on_the_unit_circle():
    torch.manual_seed(0)
    model = build_model("phase-recovery", width=8)
    y = model(torch.rand(3, 1, 24, 24))
    norm = (y ** 2).sum(dim=1)
    assert torch.allclose(norm, torch.ones_like(norm), atol=1e-5)


def test_supersampler_scale_is_configurable_and_size_overrides_it():
    model = build_model("supersampler", scale=3, width=8)
    assert model(torch.rand(1, 1, 10, 12)).shape == (1, 1, 30, 36)
    # nearest-neighbour 96 -> 19 is not an integer factor: ask for the output size
    assert model(torch.rand(1, 1, 19, 19), size=(96, 96)).shape == (1, 1, 96, 96)


def test_wrong_channels_and_unknown_names_are_named():
    with pytest.raises(ValueError, match=r"partial-scan expects a \[batch, 2"):
        build_model("partial-scan", width=8)(torch.rand(1, 1, 16, 16))
    with pytest.raises(UnknownModelError, match="atrous-denoiser"):
        build_model("unet")
    assert set(MODELS) == {"atrous-denoiser", "partial-scan", "supersampler", "phase-recovery"}


def test_denoiser_learns_to_remove_noise():
    """A few dozen Adam steps on smooth images with noise beat the noisy input."""
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 6, 32), torch.linspace(0, 6, 32), indexing="ij")
    model = build_model("atrous-denoiser", width=8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    def batch():
        phase = torch.rand(4, 1, 1, 1) * 6
        clean = 0.5 + 0.4 * torch.sin(xx + phase) * torch.cos(yy - phase)
        return clean + 0.2 * torch.randn(4, 1, 32, 32), clean
    for _ in range(60):
        noisy, clean = batch()
        loss = ((model(noisy) - clean) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    noisy, clean = batch()
    with torch.no_grad():
        assert ((model(noisy) - clean) ** 2).mean() < 0.5 * ((noisy - clean) ** 2).mean()


def test_untrained_denoiser_is_the_classical_fourier_wiener_filter():
    import numpy as np

    from wemd.baselines.denoise import fourier_wiener

    x = np.random.default_rng(0).random((20, 23)).astype(np.float32)
    y = build_model("atrous-denoiser", width=4)(torch.from_numpy(x)[None, None])[0, 0]
    assert np.abs(y.detach().numpy() - fourier_wiener(x)).max() < 1e-5
