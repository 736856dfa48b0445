"""The long-tailed subsample (imbalance study) and the CAAT objective."""

import numpy as np
import pytest
import torch

from advlab.data.longtail import long_tailed, long_tailed_counts
from advlab.training.objectives import make_objective


def test_long_tailed_counts_follow_the_exponential_profile():
    c = long_tailed_counts(1000, 10, 100.0)
    assert c[0] == 1000 and c[-1] == 10
    assert np.all(np.diff(c) <= 0)
    assert c[0] / c[-1] == pytest.approx(100.0)
    assert np.all(long_tailed_counts(50, 10, 1.0) == 50)


def test_long_tailed_subsample_is_seeded_and_subset():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 5000)
    idx = np.arange(5000) + 7
    a = long_tailed(idx, labels, 10.0, 10, seed=3)
    assert np.array_equal(a, long_tailed(idx, labels, 10.0, 10, seed=3))
    assert set(a) <= set(idx)
    counts = np.bincount(labels[a - 7], minlength=10)
    n_max = np.bincount(labels).min()
    assert counts[0] == n_max and counts[9] == int(n_max / 10 + 1e-9)
    assert np.all(np.diff(counts) <= 0)


def test_caat_uses_label_preserving_examples_and_trains(tiny_models, digits_split):
    model = tiny_models["cnn"]
    x, y = digits_split["train"]
    x, y = x[:64], y[:64]
    loss_fn = make_objective("caat", eps=0.1, steps=3)
    model.train()
    try:
        loss = loss_fn(model, x, y)
        assert torch.isfinite(loss) and loss.requires_grad
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()
    # the examples CAAT trains on keep the model's prediction (made by the engine's PGD)
    from advlab.attacks.objectives import Underconfidence
    from advlab.training.robust import adversarial_examples

    xa = adversarial_examples(model, x, y, Underconfidence(), 0.1, 3)
    with torch.no_grad():
        assert torch.equal(model(xa).argmax(1), model(x).argmax(1))
        assert float((xa - x).abs().max()) <= 0.1 + 1e-6
