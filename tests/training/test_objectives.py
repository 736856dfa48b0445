"""The training-objective registry: every recipe registers itself; names and options are checked."""

import pytest
import torch

from advlab.errors import AdvlabError
from advlab.training.objectives import TRAIN_OBJECTIVES, available, make_objective


def test_every_recipe_is_registered_and_available_lists_them():
    assert available() == TRAIN_OBJECTIVES.names()
    assert set(available()) >= {"standard", "pgd_at", "trades", "gaussian_noise", "caat", "selectivenet"}


def test_unknown_objective_and_bad_option_name_themselves():
    with pytest.raises(AdvlabError, match="'madry'.*known: .*pgd_at"):
        make_objective("madry")
    with pytest.raises(AdvlabError, match="sigmaa"):
        make_objective("gaussian_noise", sigmaa=0.1)


def test_standard_is_cross_entropy_with_label_smoothing():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    loss = make_objective("standard", label_smoothing=0.1)(model, x, y)
    expected = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
    assert float(loss.detach()) == pytest.approx(float(expected.detach()))
