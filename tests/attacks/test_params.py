"""Every bad parameter is refused up front, by name (ART's habit, DESIGN.md)."""

import pytest
import torch
from torch import nn

from advlab.attacks import run_attack
from advlab.attacks.result import AttackResult
from advlab.errors import AdvlabError


class Exploding(nn.Module):
    """Fails if the engine does any work before checking its parameters."""

    def forward(self, x):
        raise RuntimeError("the model was called before the parameters were checked")


X = torch.rand(4, 1, 8, 8)
Y = torch.tensor([0, 1, 2, 3])


@pytest.mark.parametrize("name,params,needle", [
    ("pgd", {"eps": 0.0}, "eps=0.0"),
    ("pgd", {"eps": 1.5}, "eps=1.5"),
    ("pgd", {"eps": 9.0, "norm": "l2"}, "eps=9.0"),
    ("pgd", {"norm": "l3"}, "norm='l3'"),
    ("pgd", {"objective": "nope"}, "objective='nope'"),
    ("nope", {}, "attack='nope'"),
    ("pgd", {"objective": "underconfidence", "tau_u": 1.5}, "tau_u=1.5"),
    ("square", {"objective": "overconfidence", "tau_o": 0.0}, "tau_o=0.0"),
    ("square", {"objective": "random_confidence", "tolerance": -1}, "tolerance=-1"),
    ("pgd", {"steps": 0}, "steps=0"),
    ("pgd", {"restarts": 1.5}, "restarts=1.5"),
    ("pgd", {"alpha": -1}, "alpha=-1"),
    ("square", {"n_queries": 0}, "n_queries=0"),
    ("square", {"p_init": 2.0}, "p_init=2.0"),
    ("pgd", {"eot_samples": 0}, "eot_samples=0"),
    ("pgd", {"stepz": 3}, "stepz"),
    ("cw", {"norm": "linf"}, "norm='linf'"),
    ("cw", {"norm": "l2", "objective": "ce"}, "objective='ce'"),
    ("transfer", {"surrogate": None}, "surrogate"),
    ("pgd", {"bpda": True}, "bpda"),
    ("pgd", {"seed": -1}, "seed=-1"),
])
def test_bad_parameter_is_named_before_any_work(name, params, needle):
    with pytest.raises(AdvlabError) as e:
        run_attack(name, Exploding(), X, Y, **params)
    assert needle in str(e.value)


def test_inputs_outside_unit_box_are_refused():
    with pytest.raises(AdvlabError, match=r"\[0, 1\]"):
        run_attack("pgd", Exploding(), X * 255, Y)


def test_target_confidence_below_one_over_k_is_refused():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    with pytest.raises(AdvlabError, match="tau_o=0.2"):
        run_attack("square", model, X, Y, objective="overconfidence", tau_o=0.2)


def test_eval_mode_and_weights_are_restored():
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 4)).train()
    run_attack("pgd", model, X, Y, eps=0.1, steps=2)
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_summary_counts_queries_over_successes_and_all():
    x = torch.zeros(4, 1, 2, 2)
    xa = x.clone()
    xa[0, 0, 0, 0] = 0.5
    logp = torch.log_softmax(torch.tensor([[3.0, 0], [3, 0], [0, 3], [0, 3]]), 1)
    r = AttackResult.build(x, xa, torch.tensor([True, False, True, True]), torch.tensor([10, 100, 20, 31]),
                           torch.tensor([0, 0, 0, 1]), logp, logp)
    s = r.summary()
    assert s["queries_mean_success"] == pytest.approx(61 / 3)
    assert s["queries_median_success"] == 20
    assert s["queries_total"] == 161
    assert s["clean_accuracy"] == 0.75 and s["success_rate"] == 0.75
    assert s["linf_max"] == 0.5 and s["l2_mean"] == pytest.approx(0.125)
