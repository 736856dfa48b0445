"""The CAAT training objective (calibration-attack adversarial training, SPEC §3)."""

import pytest
import torch

from advlab.errors import AdvlabError
from advlab.training.objectives import make_objective


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


@pytest.mark.parametrize("options,word", [({"clean_weight": -1.0}, "clean_weight"), ({"tau_u": 2.0}, "tau_u"),
                                          ({"eps": 0.0}, "eps"), ({"bogus": 1}, "bogus")])
def test_caat_options_are_checked(options, word):
    with pytest.raises(AdvlabError) as err:
        make_objective("caat", **options)
    assert word in str(err.value)
