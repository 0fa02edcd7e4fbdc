"""ALRC, CLRC and DALRC: the semantics of Algorithms 1-3 of the ALRC paper, checked exactly."""

import math

import pytest

torch = pytest.importorskip("torch")

from wemd.baselines.alrc import ALRC, CLRC, DALRC  # noqa: E402


def _grad(clip, values):
    """Forward value and d(clipped mean)/d(loss_i) for a leaf tensor of losses."""
    losses = torch.tensor(values, dtype=torch.float32, requires_grad=True)
    out = clip(losses)
    out.backward()
    return out.detach(), losses.grad


def test_forward_value_is_the_raw_mean_and_gradient_scaled_by_lmax_over_l():
    clip = ALRC(n_max=3.0, mu1=25.0, mu2=30.0)
    sigma = math.sqrt(30.0 ** 2 - 25.0 ** 2)
    l_max = 25.0 + 3 * sigma
    big = 400.0
    out, grad = _grad(clip, [big])
    assert out.item() == big                      # forward value unchanged
    assert grad.item() == pytest.approx(l_max / big, rel=1e-6)


def test_losses_inside_the_bounds_keep_their_gradient():
    clip = ALRC()
    out, grad = _grad(clip, [10.0])
    assert out.item() == 10.0
    assert grad.item() == 1.0


def test_per_example_clipping_in_a_batch():
    clip = ALRC(n_max=3.0, mu1=25.0, mu2=30.0)
    l_max = clip.bounds()[1].item()
    values = [1.0, 20.0, 500.0, 1000.0]
    out, grad = _grad(clip, values)
    assert out.item() == pytest.approx(sum(values) / 4)
    expected = [1 / 4, 1 / 4, l_max / 500 / 4, l_max / 1000 / 4]
    assert grad.tolist() == pytest.approx(expected, rel=1e-6)


def test_gradient_reaches_the_model_scaled():
    """Through a parameter, not just the loss leaf: dL_dyn/dw = (L_max / L) dL/dw."""
    w = torch.tensor(10.0, requires_grad=True)
    clip = ALRC(n_max=1.0, mu1=2.0, mu2=3.0)
    l_max = clip.bounds()[1].item()
    loss = (w * 3.0) ** 2                  # 900, far above the bound
    clip(loss.reshape(1)).backward()
    assert w.grad.item() == pytest.approx((l_max / 900.0) * 2 * 9.0 * 10.0, rel=1e-6)


def test_moments_update_with_the_raw_batch_mean_after_the_bounds_are_taken():
    clip = ALRC(n_max=3.0, mu1=25.0, mu2=30.0, decay=0.9)
    before = clip.bounds()[1].item()
    losses = torch.tensor([100.0, 300.0], requires_grad=True)
    clip(losses).backward()
    # the step used the bounds from before the update ...
    assert losses.grad[1].item() == pytest.approx(before / 300.0 / 2, rel=1e-6)
    # ... and the moments moved with the RAW mean 200, not the clipped one
    assert clip.mu1.item() == pytest.approx(0.9 * 25 + 0.1 * 200)
    assert clip.mu2.item() == pytest.approx(0.9 * 900 + 0.1 * 200 ** 2)
    assert clip.sigma.item() == pytest.approx(math.sqrt(clip.mu2.item() - clip.mu1.item() ** 2),
                                              rel=1e-5)


def test_moments_converge_to_the_loss_statistics():
    torch.manual_seed(0)
    clip = ALRC(decay=0.98)
    for _ in range(1200):
        clip(torch.randn(1) * 2 + 5)
    assert clip.mu1.item() == pytest.approx(5.0, abs=0.6)
    assert clip.sigma.item() == pytest.approx(2.0, abs=0.6)


def test_eval_mode_freezes_the_statistics_but_still_clips():
    clip = ALRC().eval()
    state = {k: v.clone() for k, v in clip.state_dict().items()}
    _, grad = _grad(clip, [1e4])
    assert grad.item() < 1.0
    for k, v in clip.state_dict().items():
        assert torch.equal(v, state[k])


def test_two_sided_alrc_scales_low_losses_up_by_lmin_over_l():
    clip = ALRC(n_max=3.0, n_min=0.5, mu1=25.0, mu2=30.0)
    l_min, l_max = (b.item() for b in clip.bounds())
    assert l_min == pytest.approx(25.0 - 0.5 * math.sqrt(275.0))
    out, grad = _grad(clip, [2.0, 25.0, 300.0])
    assert out.item() == pytest.approx(327.0 / 3)
    assert grad.tolist() == pytest.approx([l_min / 2.0 / 3, 1 / 3, l_max / 300.0 / 3], rel=1e-6)


def test_state_dict_round_trip_restores_the_moments():
    a = ALRC(decay=0.5)
    for v in (3.0, 40.0, 7.0):
        a(torch.tensor([v]))
    assert set(a.state_dict()) == {"mu1", "mu2"}
    b = ALRC()
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.mu1, b.mu1) and torch.equal(a.mu2, b.mu2)
    assert [x.item() for x in a.bounds()[1:]] == [x.item() for x in b.bounds()[1:]]
    # and it survives a model checkpoint
    model = torch.nn.Sequential(torch.nn.Linear(1, 1))
    model.clip = a
    restored = torch.nn.Sequential(torch.nn.Linear(1, 1))
    restored.clip = ALRC()
    restored.load_state_dict(model.state_dict())
    assert torch.equal(restored.clip.mu2, a.mu2)


@pytest.mark.parametrize("values", [[0.0], [-5.0], [-5.0, 0.0, 1e6], [float("inf")], [1e-38]])
def test_zero_negative_and_extreme_losses_stay_finite(values):
    for clip in (ALRC(n_min=1.0), DALRC(), CLRC(l_min=1.0, l_max=2.0)):
        losses = torch.tensor(values, requires_grad=True)
        clip(losses).backward()
        grad = losses.grad
        finite = torch.isfinite(torch.tensor(values))
        assert torch.isfinite(grad[finite]).all(), (clip, values, grad)
        for buf in clip.buffers():
            assert not torch.isnan(buf).any(), (clip, values)


def test_negative_bounds_never_flip_the_gradient_sign():
    clip = ALRC(n_max=1.0, mu1=-10.0, mu2=10.5)      # bound below zero
    assert clip.bounds()[1].item() < 0
    _, grad = _grad(clip, [-1.0, 4.0])
    assert (grad > 0).all()


def test_non_finite_batch_leaves_the_statistics_alone():
    clip = ALRC()
    before = clip.mu1.clone()
    clip(torch.tensor([float("nan"), 1.0]))
    clip(torch.tensor([float("inf")]))
    assert torch.equal(clip.mu1, before)


def test_no_clipping_when_n_is_inf_or_none():
    for clip in (ALRC(n_max=None), ALRC(n_max=math.inf)):
        _, grad = _grad(clip, [1e9])
        assert grad.item() == 1.0
        assert clip.bounds() == (None, None)


def test_clrc_fixed_bounds():
    clip = CLRC(l_max=4.0, l_min=1.0)
    _, grad = _grad(clip, [0.5, 2.0, 8.0])
    assert grad.tolist() == pytest.approx([2.0 / 3, 1 / 3, 0.5 / 3])
    for _ in range(10):                               # nothing adapts
        clip(torch.tensor([100.0]))
    assert clip.bounds()[1].item() == 4.0
    assert set(clip.state_dict()) == {"l_min", "l_max"}


def test_dalrc_tracks_deviations_above_and_below_separately():
    clip = DALRC(n_up=2.0, n_down=1.0, mu1=10.0, mu_up=3.0, mu_down=1.0, decay=0.5)
    l_min, l_max = (b.item() for b in clip.bounds())
    assert (l_min, l_max) == (9.0, 16.0)
    _, grad = _grad(clip, [32.0])                     # above: clipped to 16 / 32
    assert grad.item() == pytest.approx(0.5)
    assert clip.mu_up.item() == pytest.approx(0.5 * 3 + 0.5 * (32 - 10))
    assert clip.mu_down.item() == 1.0                 # untouched by a loss above the mean
    assert clip.mu1.item() == pytest.approx(21.0)
    _, grad = _grad(clip, [1.0])                      # below mu1 = 21
    l_min = 21.0 - 1.0 * 1.0
    assert grad.item() == pytest.approx(l_min / 1.0)
    assert clip.mu_down.item() == pytest.approx(0.5 * 1 + 0.5 * 20)
    assert clip.mu_up.item() == pytest.approx(12.5)


def test_dalrc_one_sided():
    clip = DALRC(n_up=2.0, n_down=None)
    assert clip.bounds()[0] is None
    _, grad = _grad(clip, [1e-3])
    assert grad.item() == 1.0


@pytest.mark.parametrize("kwargs", [dict(mu1=25.0, mu2=20.0), dict(decay=1.0), dict(n_max=-1.0),
                                    dict(mu1=float("nan"))])
def test_bad_hyperparameters_are_named(kwargs):
    with pytest.raises(ValueError, match="|".join(kwargs)):
        ALRC(**kwargs)


def test_bad_input():
    with pytest.raises(TypeError, match="torch.Tensor"):
        ALRC()([1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        ALRC()(torch.tensor([]))
    with pytest.raises(ValueError, match="l_min < l_max"):
        CLRC(l_max=1.0, l_min=2.0)


def test_module_moves_with_the_model_dtype_and_device():
    clip = ALRC().to(torch.float64)
    losses = torch.tensor([1e4, 1.0], dtype=torch.float64, requires_grad=True)
    out = clip(losses)
    assert out.dtype == torch.float64
    out.backward()
    assert losses.grad.dtype == torch.float64


def test_from_losses_starts_the_moments_at_the_sample_statistics():
    clip = ALRC.from_losses([1.0, 3.0, float("nan")], n_max=2.0, decay=0.9)
    assert clip.mu1.item() == pytest.approx(2.0)
    assert clip.mu2.item() == pytest.approx(5.0, rel=1e-5)          # mean of squares
    assert clip.sigma.item() == pytest.approx(1.0, rel=1e-3)
    assert clip.bounds()[1].item() == pytest.approx(4.0, rel=1e-3)
    constant = ALRC.from_losses([0.5, 0.5])
    assert constant.sigma.item() == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ValueError, match="finite"):
        ALRC.from_losses([float("inf")])
