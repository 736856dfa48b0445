"""APGD, the DLR losses and AutoAttack on the tiny CNN: schedule, losses, constraints,
determinism, the per-component record and parameter checks."""

import math

import pytest
import torch
from torch import nn

from advlab.attacks import run_attack
from advlab.attacks.apgd import checkpoints
from advlab.attacks.autoattack import CLEAN, ROBUST, breakdown
from advlab.attacks.objectives import make_objective
from advlab.errors import AdvlabError


def test_checkpoints_follow_the_published_schedule():
    """p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), times N."""
    p = [0.0, 0.22]
    while p[-1] + max(p[-1] - p[-2] - 0.03, 0.06) <= 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    assert checkpoints(100) == [round(v * 100) for v in p[1:]] == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(10) == [2, 3, 4, 5, 6, 7, 8, 9, 10]  # integer intervals, at least one step
    assert checkpoints(1) == [1]


def test_dlr_losses_match_the_formulas_and_ignore_a_logit_shift():
    z = torch.tensor([[4.0, 1.0, 3.0, 0.5, -1.0], [0.0, 2.0, 1.0, 5.0, 4.5]])
    y = torch.tensor([0, 3])
    dlr, dlrt = make_objective("dlr"), make_objective("dlr_targeted")
    s, st = dlr.prepare(z, y), dlrt.prepare(z, y)
    # row 0: z_y = 4, max other 3, π = (4, 3, 1, 0.5); row 1: z_y = 5, max other 4.5, π = (5, 4.5, 2, 1)
    assert torch.allclose(dlr.score(z, None, s), torch.tensor([-(4 - 3) / (4 - 1), -(5 - 4.5) / (5 - 2)]))
    assert st["target"].tolist() == [2, 4]  # the runner-up of the clean output
    expected = torch.tensor([-(4 - 3) / (4 - (1 + 0.5) / 2), -(5 - 4.5) / (5 - (2 + 1) / 2)])
    assert torch.allclose(dlrt.score(z, None, st), expected)
    logp = torch.log_softmax(z, 1)  # what the engine hands an objective
    assert torch.allclose(dlr.score(logp, None, s), dlr.score(z, None, s), atol=1e-6)
    assert torch.allclose(dlrt.score(logp, None, st), dlrt.score(z, None, st), atol=1e-6)


@pytest.mark.parametrize("norm,eps", [("linf", 0.08), ("l2", 0.6)])
@pytest.mark.parametrize("objective", ["ce", "dlr", "dlr_targeted"])
def test_apgd_stays_in_the_ball_and_the_box(cnn, batch, norm, eps, objective):
    x, y = batch[0][:60], batch[1][:60]
    r = run_attack("apgd", cnn, x, y, norm=norm, eps=eps, objective=objective, steps=10, n_target_classes=3)
    assert (getattr(r, norm) <= eps * (1 + 1e-5)).all()
    assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    s = r.summary()
    assert s["robust_accuracy"] < s["clean_accuracy"] - 0.05  # it does attack
    # queries: the clean query, the start and at most `steps` iterates per run (and target)
    runs = 3 if objective == "dlr_targeted" else 1
    assert r.queries.max() <= 1 + runs * 11 + 1


def test_apgd_is_deterministic_given_the_seed(cnn, batch):
    x, y = batch[0][:40], batch[1][:40]
    a, b = (run_attack("apgd", cnn, x, y, eps=0.08, steps=8, seed=3) for _ in range(2))
    c = run_attack("apgd", cnn, x, y, eps=0.08, steps=8, seed=4)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.queries, b.queries)
    assert not torch.equal(a.x_adv, c.x_adv)


def test_apgd_is_at_least_as_strong_as_pgd(cnn, batch):
    x, y = batch
    ours = run_attack("apgd", cnn, x, y, eps=0.06, steps=20).summary()["robust_accuracy"]
    pgd = run_attack("pgd", cnn, x, y, eps=0.06, steps=20).summary()["robust_accuracy"]
    assert ours <= pgd + 0.01


@pytest.mark.parametrize("norm,eps", [("linf", 0.08), ("l2", 0.6)])
def test_autoattack_records_which_component_broke_each_sample(cnn, batch, norm, eps):
    x, y = batch[0][:80], batch[1][:80]
    r = run_attack("autoattack", cnn, x, y, norm=norm, eps=eps, steps=5, n_target_classes=2, n_queries=50,
                   batch_size=50, seed=1)
    comp = r.extras["component"]
    assert r.params["components"] == ["apgd-ce", "apgd-t", "square"] and len(comp) == 80
    assert (getattr(r, norm) <= eps * (1 + 1e-5)).all() and r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    assert torch.equal(comp == CLEAN, r.clean_pred != r.y)
    assert torch.equal(comp >= 0, r.success & (r.clean_pred == r.y))  # a component's verdict is the engine's
    counts = breakdown(comp, r.params["components"])
    assert list(counts) == ["clean_error", "apgd-ce", "apgd-t", "square", "robust"] and sum(counts.values()) == 80
    assert counts["robust"] == int((comp == ROBUST).sum()) == round(r.summary()["robust_accuracy"] * 80)
    # the same seed gives the same result, chunk by chunk
    again = run_attack("autoattack", cnn, x, y, norm=norm, eps=eps, steps=5, n_target_classes=2, n_queries=50,
                       batch_size=50, seed=1)
    assert torch.equal(again.x_adv, r.x_adv) and torch.equal(again.extras["component"], comp)


def test_autoattack_is_at_least_as_strong_as_its_first_component(cnn, batch):
    x, y = batch[0][:100], batch[1][:100]
    kw = {"eps": 0.06, "steps": 10, "n_queries": 100}
    aa = run_attack("autoattack", cnn, x, y, **kw).summary()["robust_accuracy"]
    ce = run_attack("autoattack", cnn, x, y, components=["apgd-ce"], **kw)
    assert ce.params["components"] == ["apgd-ce"]
    assert aa <= ce.summary()["robust_accuracy"]


class Exploding(nn.Module):
    def forward(self, x):
        raise RuntimeError("the model was called before the parameters were checked")


X, Y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])


@pytest.mark.parametrize("name,params,needle", [
    ("apgd", {"steps": 0}, "steps=0"),
    ("apgd", {"restarts": 0}, "restarts=0"),
    ("apgd", {"rho": 0.0}, "rho=0.0"),
    ("apgd", {"rho": 1.5}, "rho=1.5"),
    ("apgd", {"n_target_classes": 0}, "n_target_classes=0"),
    ("apgd", {"seed": -1}, "seed=-1"),
    ("apgd", {"eps": 2.0}, "eps=2.0"),
    ("apgd", {"norm": "l1"}, "norm='l1'"),
    ("apgd", {"objective": "underconfidence"}, "objective='underconfidence'"),
    ("apgd", {"n_queries": 10}, "n_queries"),
    ("autoattack", {"version": "plus"}, "version='plus'"),
    ("autoattack", {"components": ["apgd-ce", "fab-t"]}, "components=['apgd-ce', 'fab-t']"),
    ("autoattack", {"components": []}, "components=[]"),
    ("autoattack", {"components": ["square", "square"]}, "listed twice"),
    ("autoattack", {"n_queries": 0}, "n_queries=0"),
    ("autoattack", {"steps": 1.5}, "steps=1.5"),
    ("autoattack", {"objective": "margin"}, "objective='margin'"),
])
def test_bad_parameter_is_named_before_any_work(name, params, needle):
    with pytest.raises(AdvlabError) as e:
        run_attack(name, Exploding(), X, Y, **params)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_targeted_dlr_needs_four_classes():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    with pytest.raises(AdvlabError, match="needs K ≥ 4 classes"):
        run_attack("apgd", model, X, torch.tensor([0, 1, 2, 0]), objective="dlr_targeted", steps=2)
    with pytest.raises(AdvlabError, match="needs K ≥ 4 classes"):
        run_attack("autoattack", model, X, torch.tensor([0, 1, 2, 0]), steps=2)
    assert math.isfinite(run_attack("apgd", model, X, torch.tensor([0, 1, 2, 0]), objective="dlr",
                                    steps=2).summary()["robust_accuracy"])
