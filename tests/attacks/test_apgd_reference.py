"""Our APGD and AutoAttack against torchattacks 3.5.1 on the same model and 200 inputs."""

import pytest
import torch
import torchattacks

from advlab.attacks import run_attack
from advlab.attacks.autoattack import breakdown


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("norm,eps", [("linf", 0.08), ("l2", 0.5)])
def test_apgd_ce_matches_torchattacks(cnn, batch, norm, eps):
    """Same steps (50), one restart: robust accuracies within 2 points."""
    x, y = batch
    r = run_attack("apgd", cnn, x, y, norm=norm, eps=eps, steps=50)
    theirs = accuracy(cnn, torchattacks.APGD(cnn, norm="Linf" if norm == "linf" else "L2", eps=eps, steps=50,
                                             loss="ce", seed=0)(x, y), y)
    ours = r.summary()["robust_accuracy"]
    assert 0.1 < ours < 0.9, "the setting must leave room for a difference to show"
    assert abs(ours - theirs) <= 0.02
    assert ours == pytest.approx(accuracy(cnn, r.x_adv, y))


def test_autoattack_matches_torchattacks(cnn, batch):
    """torchattacks' standard AutoAttack (APGD-CE, APGD-T over 9 classes, FAB-T, Square with
    5 000 queries; its APGD runs 10 steps) against ours with the same settings and no FAB-T:
    within 2 points, so ours is never weaker by more than that."""
    x, y = batch
    eps = 0.08
    r = run_attack("autoattack", cnn, x, y, eps=eps, steps=10, n_queries=5000)
    theirs = accuracy(cnn, torchattacks.AutoAttack(cnn, norm="Linf", eps=eps, n_classes=10, seed=0)(x, y), y)
    ours = r.summary()["robust_accuracy"]
    assert 0.1 < ours < 0.9
    assert ours <= theirs + 0.02 and abs(ours - theirs) <= 0.02
    counts = breakdown(r.extras["component"], r.params["components"])
    assert counts["robust"] == round(ours * len(y)) and counts["apgd-ce"] > 0
