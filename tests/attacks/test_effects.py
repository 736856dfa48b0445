"""Calibration and ACE attacks move confidence the way the papers say (SPEC §3, §4)."""

import pytest
import torch

from advlab.attacks import run_attack


@pytest.mark.parametrize("search,params", [("square", {"n_queries": 150}), ("pgd", {"steps": 15})])
def test_overconfidence_raises_and_underconfidence_lowers_confidence(cnn, batch, search, params):
    x, y = batch
    over = run_attack(search, cnn, x, y, objective="overconfidence", eps=0.1, **params).summary()
    under = run_attack(search, cnn, x, y, objective="underconfidence", eps=0.1, **params).summary()
    assert over["mean_confidence_adv"] > over["mean_confidence_clean"]
    assert under["mean_confidence_adv"] < under["mean_confidence_clean"] - 0.1


def test_overconfidence_reaches_its_threshold(cnn, batch):
    x, y = batch
    r = run_attack("pgd", cnn, x, y, objective="overconfidence", tau_o=0.99, eps=0.1, steps=20)
    conf = r.probs_adv.amax(1)
    assert torch.all(conf[r.success] >= 0.99)
    assert r.success.float().mean() > 0.9


def test_max_miscalibration_multiplies_ece(cnn, batch):
    x, y = batch
    s = run_attack("pgd", cnn, x, y, objective="max_miscalibration", eps=0.15, steps=30).summary()
    assert s["ece_adv"] > 5 * s["ece_clean"]
    assert s["clean_accuracy"] == s["robust_accuracy"]


def test_random_confidence_lands_near_its_targets(cnn, batch):
    x, y = batch
    r = run_attack("pgd", cnn, x, y, objective="random_confidence", tolerance=0.05, eps=0.2, steps=40)
    assert r.success.float().mean() > 0.5
    # successes are within tolerance of targets drawn in (1/K + 0.05, 0.99)
    conf = r.probs_adv.amax(1)[r.success]
    assert conf.min() >= 0.15 - 0.05 and conf.max() <= 0.99 + 0.05
    # same seed, same targets, same result
    r2 = run_attack("pgd", cnn, x, y, objective="random_confidence", tolerance=0.05, eps=0.2, steps=40)
    assert torch.equal(r.x_adv, r2.x_adv)


def test_ace_inverts_confidence_ordering_direction(cnn, batch):
    """ACE lowers the confidence of right answers and raises it on wrong ones."""
    x, y = batch
    r = run_attack("pgd", cnn, x, y, objective="ace", eps=0.1, steps=10)
    right = r.clean_pred == r.y
    c0, c1 = r.probs_clean.amax(1), r.probs_adv.amax(1)
    assert c1[right].mean() < c0[right].mean() - 0.1
    if (~right).any():
        assert c1[~right].mean() >= c0[~right].mean()


class WithG(torch.nn.Module):
    """A stand-in estimator with its own score κ(x) (like SelectiveNet's g(x))."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def forward(self, x):
        return torch.log_softmax(self.base(x), 1)

    def confidence(self, x):
        return torch.sigmoid(self.base(x).amax(1) - 5)


def test_ace_attacks_the_estimators_own_score(cnn, batch):
    x, y = batch
    est = WithG(cnn)
    r = run_attack("ace", est, x, y, eps=0.05)
    with torch.no_grad():
        k0, k1 = est.confidence(x), est.confidence(r.x_adv)
    right = r.clean_pred == r.y
    assert k1[right].mean() < k0[right].mean()
    assert torch.equal(r.adv_pred, r.clean_pred)
