"""The evasion study's attack loop on a tiny model (no prepared data: the model loader is stubbed)."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

import advlab.study.evasion as study


@pytest.fixture
def setup(monkeypatch):
    torch.manual_seed(0)
    target = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    surrogate = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    loaded = []

    def trained(name, plan, device):
        loaded.append(name)
        return {"target": target, "sur": surrogate}[name]

    monkeypatch.setattr(study, "trained", trained)
    a = lambda attack, **kw: SimpleNamespace(**{"attack": attack, "eps": 0.1, "norm": "linf", "params": {}, "n": None,
                                                 "models": None, **kw})
    ev = SimpleNamespace(attacks={"fgsm": a("fgsm"), "tr": a("transfer"), "other": a("pgd", models=["elsewhere"])},
                         surrogate="sur", batch_size=4, sweep_eps=[0.05, 0.2], sweep_steps=2)
    x = torch.rand(10, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    y = torch.arange(10) % 3
    return ev, x, y, loaded


def test_run_attacks_runs_each_configured_attack_in_batches(setup):
    ev, x, y, loaded = setup
    model, summaries, arrays = study.run_attacks("target", ev, None, x, y, "cpu", seed=0, log=lambda *_: None)
    assert list(summaries) == ["fgsm", "tr"] and loaded == ["target", "sur"]  # 'other' is for another model
    assert summaries["tr"]["surrogate"] == "sur" and summaries["fgsm"]["surrogate"] is None
    assert summaries["fgsm"]["n"] == 10 and arrays["fgsm_x_adv"].shape == (10, 1, 4, 4)
    assert {"x", "y", "clean_pred", "tr_adv_pred", "tr_success"} <= set(arrays)
    direct = study.run_attack("fgsm", model, x, y, batch_size=4, seed=0, eps=0.1, norm="linf")
    assert (arrays["fgsm_x_adv"] == direct.x_adv.numpy()).all()


def test_eps_sweep_has_one_row_per_budget(setup):
    ev, x, y, _ = setup
    frame = study.eps_sweep(study.trained("target", None, "cpu"), ev, x, y, "cpu", seed=0)
    assert list(frame.eps) == [0.05, 0.2] and set(frame.columns) == {"eps", "robust_accuracy", "clean_accuracy"}
    assert frame.robust_accuracy.iloc[1] <= frame.clean_accuracy.iloc[1]


def test_autoattack_breakdown_is_saved_per_component(setup):
    ev, x, y, _ = setup
    params = {"steps": 3, "n_queries": 10, "components": ["apgd-ce", "square"]}  # the 3-class target: no APGD-T
    ev.attacks = {"aa": SimpleNamespace(attack="autoattack", eps=0.3, norm="linf", params=params, n=None, models=None),
                  "fgsm": ev.attacks["fgsm"]}
    _, summaries, arrays = study.run_attacks("target", ev, None, x, y, "cpu", seed=0, log=lambda *_: None)
    counts = summaries["aa"]["components"]
    assert list(counts) == ["clean_error", "apgd-ce", "square", "robust"] and sum(counts.values()) == 10
    assert counts["robust"] == round(summaries["aa"]["robust_accuracy"] * 10)
    assert arrays["aa_component"].shape == (10,) and "components" not in summaries["fgsm"]
    table = study.component_table({"model": "target", "attacks": summaries})
    assert list(table.columns) == ["model", "attack", "outcome", "count", "fraction"]
    assert list(table.outcome) == list(counts) and set(table.attack) == {"aa"}
    assert table["fraction"].sum() == pytest.approx(1.0)
    assert study.component_table({"model": "target", "attacks": {"fgsm": summaries["fgsm"]}}).empty
