"""SPEC §3/§4: calibration and ACE attacks never change a prediction."""

import pytest
import torch

from advlab.attacks import run_attack

CALIBRATION = ["underconfidence", "overconfidence", "max_miscalibration", "random_confidence"]
SEARCHES = [
    ("square", {"norm": "linf", "eps": 0.1, "n_queries": 150}),
    ("square", {"norm": "l2", "eps": 0.8, "n_queries": 150}),
    ("pgd", {"norm": "linf", "eps": 0.1, "steps": 15}),
    ("pgd", {"norm": "l2", "eps": 0.8, "steps": 15}),
]


def assert_invariant(model, x, y, r, norm, eps):
    with torch.no_grad():
        before = model(x).argmax(1)
        after = model(r.x_adv).argmax(1)
    assert torch.equal(before, after), f"{int((before != after).sum())} predictions changed"
    assert (before == y).float().mean() == (after == y).float().mean()
    assert torch.equal(r.adv_pred, before) and torch.equal(r.clean_pred, before)
    assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    norms = r.linf if norm == "linf" else r.l2
    assert norms.max() <= eps + 1e-5
    # the attack must have moved inputs, or the test proves nothing (overconfidence leaves
    # the many inputs that already have c ≥ 0.99 alone)
    assert (r.x_adv != x).flatten(1).any(1).float().mean() > 0.1


@pytest.mark.parametrize("objective", CALIBRATION)
@pytest.mark.parametrize("search,params", SEARCHES, ids=[f"{s}-{p['norm']}" for s, p in SEARCHES])
def test_calibration_attacks_keep_every_prediction(cnn, batch, objective, search, params):
    x, y = batch
    r = run_attack(search, cnn, x, y, objective=objective, **params)
    assert_invariant(cnn, x, y, r, params["norm"], params["eps"])
    s = r.summary()
    assert s["clean_accuracy"] == s["robust_accuracy"]
    assert s["prediction_changed_rate"] == 0.0


@pytest.mark.parametrize("params", [{}, {"proxy": "surrogate"}], ids=["white-box", "black-box"])
def test_ace_step_halving_keeps_predictions(cnn, surrogate, batch, params):
    x, y = batch
    if params:
        params = {"proxy": surrogate}
    r = run_attack("ace", cnn, x, y, eps=0.1, **params)
    assert_invariant(cnn, x, y, r, "linf", 0.1)
    # black-box ACE spends label queries: 1 clean query plus at most 15 halvings
    assert r.queries.min() >= 2 and r.queries.max() <= 16


@pytest.mark.parametrize("search,params", [("pgd", {"steps": 10}), ("square", {"n_queries": 100})])
def test_iterative_ace_keeps_predictions(cnn, batch, search, params):
    """SPEC §4 "beyond the paper": ACE as an objective of PGD and of Square's random search."""
    x, y = batch
    r = run_attack(search, cnn, x, y, objective="ace", eps=0.1, **params)
    assert_invariant(cnn, x, y, r, "linf", 0.1)
    assert r.success.float().mean() > 0.5
