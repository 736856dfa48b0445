"""The uncertainty study (advlab.study.uncertainty): one ACE case end to end on a tiny
model, batched through run_attack, and the loud failure when a prediction changes."""

import numpy as np
import pytest
import torch

from advlab.errors import AdvlabError
from advlab.metrics.roc import roc_auc
from advlab.models.zoo import build_model
from advlab.params import validate
from advlab.profiles import resolve
from advlab.study import uncertainty as study
from tests.tiny import digits_split, fit


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    x, y, xt, yt = digits_split(600, 120)
    torch.manual_seed(0)
    cnn = fit(build_model("small_cnn", (1, 8, 8), 10, width=4, hidden=24, dropout=0.3), x, y, epochs=15, lr=0.01)
    torch.manual_seed(1)
    proxy = fit(build_model("small_cnn", (1, 8, 8), 10, width=4, hidden=16), x, y, epochs=8, lr=0.01)
    raw = resolve("tiny")
    raw["uncertainty"]["run"].update(eps=[0.05, 0.1], batch_size=50, iterative_steps=2, halvings=6, gallery=3)
    return cnn, proxy, xt, yt, validate(raw).uncertainty


def test_the_invariant_check_fails_loudly_if_a_prediction_changes(setup):
    cnn, _, x, y, _ = setup
    est = study.estimator("softmax", [cnn], ["cnn"], setup[4], 0)
    pred0, _ = study.predict(est, x, 100, "cpu")
    noisy = (x + 0.5 * torch.randn_like(x)).clamp(0, 1)
    pred1, _ = study.predict(est, noisy, 100, "cpu")
    assert (pred0 != pred1).any()  # the check below has something to catch
    with pytest.raises(AdvlabError, match="changed .* predictions: the label-preserving invariant is broken"):
        study.check_invariant(pred0, pred1, y, "a broken attack")
    study.check_invariant(pred0, pred0.clone(), y, "an attack that kept every prediction")


@pytest.mark.parametrize("kind", ["softmax", "mc_dropout"])
def test_one_case_end_to_end(setup, kind):
    cnn, proxy, x, y, u = setup
    est = study.estimator(kind, [cnn], ["cnn"], u, 0).eval()
    assert getattr(est, "T", None) == (u.mc_dropout_T if kind == "mc_dropout" else None)
    case = study.run_case(kind, ["cnn"], est, x, y, np.arange(len(y)), u, proxy, torch.device("cpu"), 0, 0.0)
    r, modes = case.record, study.modes(u.run)
    assert case.name == f"{kind}_cnn" and r["accuracy_unchanged"] and r["n"] == len(y)
    assert len(case.sweep) == len(modes) * len(u.run.eps) and set(case.sweep["mode"]) == set(modes)
    assert (case.sweep["accuracy"] == r["clean"]["accuracy"]).all()  # ACE keeps every prediction
    assert (case.sweep["linf_max"] <= case.sweep["eps"] + 1e-6).all()
    correct = case.arrays["pred"] == case.arrays["y"]
    assert r["clean"]["auroc"] == roc_auc(case.arrays["conf_clean"], correct)
    assert case.arrays["conf_adv"].shape == (len(modes), len(u.run.eps), len(y))
    assert min(s["min_auroc"] for s in r["summary"].values()) < r["clean"]["auroc"]  # ACE hurt the ranking
    assert r["gallery"]["eps"] in u.run.eps and len(case.arrays["gallery_x"]) == len(case.arrays["gallery_which"])


def test_every_chunk_is_attacked_with_its_own_seed(setup):
    """Batching is run_attack's rule (chunk b seeded seed + b): the study's attack over two
    chunks equals two single-chunk attacks with seeds s and s + 1."""
    cnn, _, x, y, u = setup
    est = study.estimator("softmax", [cnn], ["cnn"], u, 0).eval()
    run = u.run.model_copy(update={"batch_size": 60})
    xa, q = study.attack(est, x, y, "iterative", 0.1, run, None, 5, "cpu")
    one = run.model_copy(update={"batch_size": 1000})
    xa0, _ = study.attack(est, x[:60], y[:60], "iterative", 0.1, one, None, 5, "cpu")
    xa1, _ = study.attack(est, x[60:], y[60:], "iterative", 0.1, one, None, 6, "cpu")
    assert torch.equal(xa, torch.cat([xa0, xa1])) and len(q) == len(y)


def test_models_of_names_the_params_lists(setup):
    u = setup[4]
    assert study.models_of(u, "softmax") == u.softmax and study.models_of(u, "ensemble") == u.ensemble
    with pytest.raises(AdvlabError, match="estimator 'temperature' has no model list"):
        study.models_of(u, "temperature")
