"""Issue 4, item 2: no calibration attack changes a prediction, on every model of the tiny
profile (and a tiny ResNet), under every search, also against the post-hoc defenses."""

import pytest
import torch

from advlab.attacks import run_attack
from advlab.defenses import CompressionScaling, calibrate_temperature
from advlab.params import CalibrationParams
from advlab.study.calibration import SEARCHES, attack_kwargs

OBJECTIVES = ["underconfidence", "overconfidence", "max_miscalibration", "random_confidence"]
PARAMS = CalibrationParams(n_eval=40, eps={"linf": 0.1, "l2": 1.0}, attack={"n_queries": 30, "pgd_steps": 6})


def check_invariant(module, x, y, r, norm, eps):
    with torch.no_grad():
        before, after = module(x).argmax(1), module(r.x_adv).argmax(1)
    assert torch.equal(before, after), f"{int((before != after).sum())} predictions changed"
    assert (before == y).double().mean().item() == (after == y).double().mean().item()  # exactly
    assert torch.equal(r.adv_pred, r.clean_pred)
    assert float(r.x_adv.min()) >= 0.0 and float(r.x_adv.max()) <= 1.0
    norms = r.linf if norm == "linf" else r.l2
    assert float(norms.max()) <= eps * (1 + 1e-5) + 1e-6


@pytest.mark.parametrize("model_name", ["cnn", "vit", "resnet"])
def test_every_attack_and_search_keeps_every_prediction(tiny_models, digits_split, model_name):
    model = tiny_models[model_name]
    x, y = digits_split["test"]
    x, y = x[:40], y[:40]
    moved = 0
    for objective in OBJECTIVES:
        for search in SEARCHES:
            kw = attack_kwargs(PARAMS, search, objective)
            name, norm, eps = kw.pop("name"), kw["norm"], kw["eps"]
            r = run_attack(name, model, x, y, **kw)
            check_invariant(model, x, y, r, norm, eps)
            s = r.summary()
            assert s["clean_accuracy"] == s["robust_accuracy"] and s["prediction_changed_rate"] == 0.0
            moved += int((r.linf > 0).sum())
    assert moved > 0.2 * 16 * len(x), "the attacks barely moved any input: the test would prove nothing"


@pytest.mark.parametrize("posthoc", ["temperature", "compression_scaling"])
def test_adaptive_attacks_on_posthoc_defenses_keep_predictions(tiny_models, digits_split, posthoc):
    model = tiny_models["cnn"]
    xv, yv = digits_split["val"]
    module = calibrate_temperature(model, xv, yv) if posthoc == "temperature" else CompressionScaling(model)
    x, y = digits_split["test"]
    x, y = x[:40], y[:40]
    for objective in ("underconfidence", "max_miscalibration"):
        for search in ("square_linf", "pgd_linf"):
            kw = attack_kwargs(PARAMS, search, objective)
            r = run_attack(kw.pop("name"), module, x, y, **kw)
            check_invariant(module, x, y, r, "linf", 0.1)
            with torch.no_grad():  # the defense keeps the bare model's predictions too
                assert torch.equal(model(r.x_adv).argmax(1), model(x).argmax(1))
