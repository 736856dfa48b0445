import pytest
import torch
import torch.nn.functional as F

from advlab.defenses.posthoc import (
    CS_BANDS,
    CompressionScaling,
    calibrate_temperature,
    compression_scale,
    compression_targets,
    fit_temperature,
    solve_temperature,
)
from advlab.errors import AdvlabError


def _overconfident(n=4000, K=10, scale=4.0, seed=0):
    """Labels drawn from softmax(z); the model reports scale·z, so the right T is `scale`."""
    g = torch.Generator().manual_seed(seed)
    z = 1.5 * torch.randn(n, K, generator=g, dtype=torch.float64)
    y = torch.multinomial(torch.softmax(z, 1), 1, generator=g).squeeze(1)
    return scale * z, y


def test_temperature_recovers_scale_and_lowers_nll():
    logits, y = _overconfident()
    T = fit_temperature(logits[:2000], y[:2000])
    assert T == pytest.approx(4.0, rel=0.1)
    test_logits, test_y = logits[2000:], y[2000:]
    assert F.cross_entropy(test_logits / T, test_y) < 0.8 * F.cross_entropy(test_logits, test_y)


def test_calibrate_temperature_wraps_model_and_keeps_predictions(tiny_model, digits):
    class Hot(torch.nn.Module):  # an overconfident copy of the fixture model
        def forward(self, x):
            return 5 * tiny_model(x)

    hot = Hot()
    est = calibrate_temperature(hot, digits["x_test"][:300], digits["y_test"][:300])
    x, y = digits["x_test"][300:], digits["y_test"][300:]
    with torch.no_grad():
        before, after = F.log_softmax(hot(x), 1), est(x)
    assert est.temperature > 1
    assert torch.equal(before.argmax(1), after.argmax(1))
    assert F.nll_loss(after, y) < F.nll_loss(before, y)


def _random_logits(n=600, K=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    # Scales from 0.05 to 20 give confidences from near 1/K to near 1, in every bin.
    scale = torch.logspace(-1.3, 1.3, n).unsqueeze(1)
    return scale * torch.randn(n, K, generator=g)


def test_compression_scaling_hits_targets_and_keeps_argmax():
    z = _random_logits()
    conf = torch.softmax(z, 1).amax(1)
    out = compression_scale(z)
    p = torch.softmax(out, 1)
    assert torch.equal(out.argmax(1), z.argmax(1))
    assert (p.amax(1) - compression_targets(conf)).abs().max() < 1e-4
    assert p.amax(1).min() >= 0.8 - 1e-4


def test_compression_targets_map_bins_monotonically_onto_bands():
    c = torch.linspace(0, 1, 3001, dtype=torch.float64)
    t = compression_targets(c)
    assert (t.diff() >= 0).all()
    for b, (lo, hi) in enumerate(CS_BANDS):
        in_bin = (c >= b / 3) & (c < (b + 1) / 3) if b < 2 else c >= 2 / 3
        assert (t[in_bin] >= lo - 1e-12).all() and (t[in_bin] <= hi + 1e-12).all()
    assert t[0] == pytest.approx(0.8) and t[-1] == pytest.approx(1.0)


def test_solver_reaches_targets_below_confidence_with_T_above_one():
    z = torch.tensor([[8.0, 0.0, 0.0], [3.0, 1.0, -2.0]], dtype=torch.float64)
    target = torch.tensor([0.6, 0.5], dtype=torch.float64)
    T = solve_temperature(z, target)
    assert (T > 1).all()
    assert torch.allclose(torch.softmax(z / T[:, None], 1).amax(1), target, atol=1e-10)


def test_tied_top_logits_are_left_untouched():
    z = torch.tensor([[2.0, 2.0, 0.0]])
    assert solve_temperature(z, torch.tensor([0.9])).item() == 1.0


def test_compression_scale_gradient_matches_finite_differences():
    # Confidences stay inside one bin for the perturbations gradcheck makes.
    z = (torch.tensor([[1.0, 0.3, -0.5, 0.1], [2.5, 0.0, 0.4, -1.0]], dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: compression_scale(t), (z,), atol=1e-6, rtol=1e-4)


def test_compression_scaling_module_is_an_estimator(tiny_model, digits):
    cs = CompressionScaling(tiny_model)
    x = digits["x_test"][:50].clone().requires_grad_(True)
    out = cs(x)
    assert torch.allclose(out.exp().sum(1), torch.ones(50), atol=1e-5)
    assert torch.equal(out.argmax(1), tiny_model(x).argmax(1))
    out.amax(1).sum().backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(AdvlabError, match="bands"):
        CompressionScaling(tiny_model, bands=[(0.9, 0.8)])
