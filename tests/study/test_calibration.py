"""The calibration study's library pieces: the search table, the per-objective attack
arguments, and the metrics row of one attack (issue 4, item 3)."""

import numpy as np
import pytest

from advlab.attacks import run_attack
from advlab.errors import AdvlabError
from advlab.metrics import calibration as cal
from advlab.params import CalibrationParams
from advlab.params.calibration import calibration_objectives
from advlab.study.calibration import SEARCH, SEARCHES, attack_kwargs, attack_row, short_name

PARAMS = CalibrationParams(thresholds={"tau_u": 0.03, "tau_o": 0.95, "tolerance": 0.05},
                           eps={"linf": 0.1, "l2": 1.5}, attack={"n_queries": 30, "pgd_steps": 6})


def test_searches_are_every_search_under_every_norm():
    assert SEARCHES == {"square_linf": ("square", "linf"), "square_l2": ("square", "l2"),
                        "pgd_linf": ("pgd", "linf"), "pgd_l2": ("pgd", "l2")}
    assert {SEARCH[s].standard for s in SEARCH} == {"margin", "ce"}


@pytest.mark.parametrize("objective,thresholds", [
    ("underconfidence", {"tau_u": 0.03}), ("overconfidence", {"tau_o": 0.95}),
    ("max_miscalibration", {"tau_u": 0.03, "tau_o": 0.95}), ("random_confidence", {"tolerance": 0.05}),
    ("margin", {}), ("ce", {})])
def test_attack_kwargs_pass_each_objective_its_own_thresholds(objective, thresholds):
    kw = attack_kwargs(PARAMS, "square_l2", objective)
    assert kw == {"name": "square", "norm": "l2", "eps": 1.5, "objective": objective, "seed": 0, **thresholds,
                  "n_queries": 30}
    kw = attack_kwargs(PARAMS, "pgd_linf", objective, eps=0.2)
    assert kw == {"name": "pgd", "norm": "linf", "eps": 0.2, "objective": objective, "seed": 0, **thresholds,
                  "steps": 6}
    assert attack_kwargs(PARAMS, "square_linf", objective, budget=7)["n_queries"] == 7


def test_unknown_search_is_an_error_naming_it():
    with pytest.raises(AdvlabError, match="square_l3"):
        attack_kwargs(PARAMS, "square_l3", "underconfidence")


def test_every_calibration_objective_has_a_distinct_short_name():
    names = [short_name(o) for o in calibration_objectives()]
    assert len(set(names)) == len(names) == 4 and "standard" not in names
    assert short_name("max_miscalibration") == "maxmis"


def test_metrics_row(tiny_models, digits_split):
    x, y = digits_split["test"]
    r = run_attack("pgd", tiny_models["cnn"], x[:80], y[:80], objective="max_miscalibration", eps=0.1, steps=8)
    row = attack_row(r, seconds=2.0)
    assert row["accuracy_adv"] == row["accuracy_clean"]
    assert row["ece_adv"] == pytest.approx(cal.ece(r.probs_adv, r.y))
    assert row["mce_adv"] >= row["ece_adv"] - 1e-12
    assert row["queries_total"] == float(r.queries.sum())
    ok = r.success
    if ok.any():
        assert row["queries_median"] == float(r.queries[ok].double().median())
    assert row["samples_per_s"] == pytest.approx(len(r) / 2.0)
    assert row["linf_max"] <= 0.1 + 1e-6
    # the objective did what it is for: the maximum-miscalibration attack raises ECE
    assert row["ece_adv"] > row["ece_clean"]
    assert np.isfinite(row["ks_adv"])


def test_target_study_saves_per_example_arrays(tiny_models, digits_split, monkeypatch):
    """``target_study`` returns the JSON and the per-example arrays the defense claim resamples;
    the arrays give back the JSON's post-attack ECE of every attack."""
    from types import SimpleNamespace as NS

    import torch

    from advlab.study import calibration as study

    class Plan(dict):
        hash = "tiny"

    x, y = digits_split["test"]
    idx = np.arange(100, 140)
    monkeypatch.setattr(study, "_eval_set", lambda c: (None, Plan(validation=None), idx, x[:40], y[:40]))
    monkeypatch.setattr(study, "load_trained", lambda *a: (tiny_models["cnn"],))
    monkeypatch.setattr(study, "to_tensors", lambda ds, i: digits_split["val"])
    c = CalibrationParams(n_eval=40, eps={"linf": 0.1, "l2": 1.5},
                          attack={"objectives": ["underconfidence", "max_miscalibration"], "n_queries": 20, "pgd_steps": 4},
                          targets={"temperature": {"model": "cnn", "posthoc": "temperature"}})
    p = NS(calibration=c, evaluate=NS(n_bins=15),
           models={"cnn": NS(train=NS(objective="ce", label_smoothing=0.0, imbalance_ratio=None))})
    out = study.target_study(p, "temperature", torch.device("cpu"))
    m, z = out["metrics"], out["arrays"]
    keys = ["under_square_linf", "under_pgd_linf", "maxmis_square_linf", "maxmis_pgd_linf"]
    assert list(m["attacks"]) == keys and m["target"] == "temperature" and "temperature" in m
    assert set(z) == {"index", "labels", "conf_clean", "pred_clean"} | {f"{k}_{a}" for k in keys for a in ("conf", "pred")}
    assert np.array_equal(z["index"], idx) and np.array_equal(z["labels"], y[:40].numpy())
    assert all(len(v) == 40 for v in z.values())
    clean_correct = (z["pred_clean"] == z["labels"]).astype(float)
    assert cal.ece_from_confidence(z["conf_clean"], clean_correct, 15) == pytest.approx(m["clean"]["ece"], abs=1e-6)
    for k in keys:
        correct = (z[f"{k}_pred"] == z["labels"]).astype(float)
        assert cal.ece_from_confidence(z[f"{k}_conf"], correct, 15) == pytest.approx(m["attacks"][k]["ece_adv"], abs=1e-6)
