"""Robust training objectives (PGD-AT, TRADES, Gaussian noise) on a tiny digits model."""

import pytest
import torch
import torch.nn.functional as F

from advlab.errors import AdvlabError
from advlab.training.objectives import make_objective
from advlab.training.robust import _TrainCE, adversarial_examples


@pytest.fixture(scope="module")
def data(digits_trained):
    return digits_trained[1]


@pytest.fixture(scope="module")
def model(digits_trained):
    return digits_trained[0]


def test_pgd_at_examples_stay_in_ball_and_raise_the_loss(model, data):
    x, y = data[0][:64], data[1][:64]
    x_adv = adversarial_examples(model, x, y, _TrainCE(), eps=0.1, steps=5, generator=torch.Generator().manual_seed(0))
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y) + 0.1
    assert not model.training and all(q.requires_grad for q in model.parameters())  # restored


@pytest.mark.parametrize("name,options", [("pgd_at", {"eps": 0.1, "steps": 2}),
                                          ("trades", {"beta": 6.0, "eps": 0.1, "steps": 2}),
                                          ("gaussian_noise", {"sigma": 0.25})])
def test_objectives_train_the_weights(model, data, name, options):
    x, y = data[0][:32], data[1][:32]
    model.train()
    loss = make_objective(name, **options)(model, x, y)
    loss.backward()
    model.eval()
    grads = [q.grad for q in model.parameters() if q.grad is not None]
    assert torch.isfinite(loss) and grads and any(g.abs().sum() > 0 for g in grads)
    model.zero_grad(set_to_none=True)


def test_trades_is_at_least_the_clean_loss(model, data):
    x, y = data[0][:32], data[1][:32]
    torch.manual_seed(0)
    zero = make_objective("trades", beta=0.0, eps=0.1, steps=2)(model, x, y)
    six = make_objective("trades", beta=6.0, eps=0.1, steps=2)(model, x, y)
    assert zero.item() == pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-5)
    assert six.item() > zero.item()


@pytest.mark.parametrize("name,options,word", [("pgd_at", {"eps": 2.0}, "eps"), ("pgd_at", {"norm": "l1"}, "norm"),
                                               ("trades", {"beta": -1.0}, "beta"),
                                               ("gaussian_noise", {"sigma": 0.0}, "sigma"),
                                               ("pgd_at", {"epsilon": 0.1}, "bad options")])
def test_bad_objective_options_name_the_option(name, options, word):
    with pytest.raises(AdvlabError, match=word):
        make_objective(name, **options)
