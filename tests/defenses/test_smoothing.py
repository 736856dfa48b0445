import numpy as np
import pytest
import torch
from scipy.stats import binom, norm
from torch import nn

from advlab.defenses.smoothing import ABSTAIN, certify, clopper_pearson_lower, predict, sample_counts
from advlab.errors import AdvlabError
from advlab.metrics.robustness import certified_accuracy, certified_accuracy_curve


class Constant(nn.Module):
    """Always class 2 of 4, whatever the noise."""

    def forward(self, x):
        return torch.tensor([0.0, 0.0, 5.0, 0.0]).expand(x.shape[0], 4)


class CoinFlip(nn.Module):
    """Class 1 iff the first pixel is positive: on x = 0 the noise makes it a fair coin."""

    def forward(self, x):
        heads = (x.flatten(1)[:, 0] > 0).float()
        return torch.stack([1 - heads, heads], dim=1)


X = torch.zeros(6, 1, 4, 4)


def test_constant_classifier_gets_the_closed_form_radius():
    sigma, n, alpha = 0.5, 500, 0.001
    pred, radius = certify(Constant(), X, sigma, n0=20, n=n, alpha=alpha, batch_size=256)
    assert (pred == 2).all()
    # All n votes agree: the Clopper–Pearson lower bound is alpha^(1/n).
    expected = sigma * norm.ppf(alpha ** (1 / n))
    assert torch.allclose(radius, torch.full((6,), expected, dtype=torch.float64), rtol=1e-9)
    assert (predict(Constant(), X, sigma, n=50, alpha=alpha) == 2).all()


def test_coin_flip_classifier_abstains():
    g = torch.Generator().manual_seed(0)
    pred = predict(CoinFlip(), X, 0.25, n=400, alpha=0.001, generator=g)
    assert (pred == ABSTAIN).all()
    pred, radius = certify(CoinFlip(), X, 0.25, n0=20, n=400, alpha=0.001, generator=g)
    assert (pred == ABSTAIN).all() and (radius == 0).all()


def test_counts_cover_every_sample_under_any_batching():
    g = torch.Generator().manual_seed(0)
    for bs in (7, 64, 10_000):
        counts = sample_counts(CoinFlip(), X, 0.25, n=30, batch_size=bs, generator=g)
        assert counts.shape == (6, 2) and (counts.sum(1) == 30).all()
        assert (counts > 3).all()  # both classes appear: the noise really is per sample


def test_clopper_pearson_matches_known_values():
    lb = clopper_pearson_lower(np.array([0, 50, 100]), 100, 0.05)
    assert lb[0] == 0
    assert lb[2] == pytest.approx(0.05 ** (1 / 100))
    # The exact bound L solves P(X >= 50 | p = L) = alpha for X ~ Binomial(100, L).
    assert binom.sf(49, 100, lb[1]) == pytest.approx(0.05, rel=1e-6)


def test_smoothing_checks_its_arguments():
    with pytest.raises(AdvlabError, match="sigma"):
        certify(Constant(), X, 0.0, 10, 100, 0.001)
    with pytest.raises(AdvlabError, match="alpha"):
        predict(Constant(), X, 0.25, 100, 1.5)
    with pytest.raises(AdvlabError, match="n0"):
        certify(Constant(), X, 0.25, 0, 100, 0.001)


def test_certified_accuracy_curve():
    pred = np.array([0, 1, ABSTAIN, 2, 0])
    radius = np.array([0.5, 1.0, 0.0, 0.2, 0.9])
    labels = np.array([0, 1, 1, 0, 0])  # sample 3 is certified but wrong
    acc = certified_accuracy(pred, radius, labels, [0.0, 0.5, 0.9, 1.0, 1.1])
    assert acc.tolist() == [0.6, 0.6, 0.4, 0.2, 0.0]
    grid, curve = certified_accuracy_curve(pred, radius, labels, num=11)
    assert grid[-1] == 1.0 and curve[0] == 0.6 and (np.diff(curve) <= 0).all()
