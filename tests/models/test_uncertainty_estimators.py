"""Issue 5 (SPEC §4): ACE on the registered estimators of zoo models: the invariant for
every estimator and every ACE mode, κ decided once (``confidence`` = ``outputs``), the
deterministic batched MC-Dropout, the SelectiveNet zoo architecture and objective, and the
library's bad-input errors."""

import pytest
import torch

from advlab.attacks import run_attack
from advlab.errors import AdvlabError
from advlab.metrics.selective import uncertainty_auroc
from advlab.models.checkpoint import load_model, save_model
from advlab.models.estimators import ESTIMATORS, MCDropout, build_estimator
from advlab.models.zoo import build_model
from advlab.training.objectives import make_objective
from tests.tiny import digits_split, fit

SHAPE = (1, 8, 8)


def _fit(model, x, y, objective="standard", epochs=25, seed=0, **options):
    return fit(model, x, y, loss=make_objective(objective, **options), epochs=epochs, lr=0.01, seed=seed)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return digits_split(1200, 250)


@pytest.fixture(scope="module")
def zoo(data):
    x, y, _, _ = data

    def cnn(seed, **o):
        torch.manual_seed(seed)
        return build_model("small_cnn", SHAPE, 10, width=4, hidden=24, **o)

    models = {
        "cnn": _fit(cnn(0, dropout=0.3), x, y, seed=0),
        "ens_0": _fit(cnn(1), x[:600], y[:600], seed=1),
        "ens_1": _fit(cnn(2), x[600:], y[600:], seed=2),
        "proxy": _fit(cnn(3), x, y, seed=3, epochs=10),
    }
    torch.manual_seed(4)
    sel = build_model("selectivenet", SHAPE, 10, base="small_cnn", selector_hidden=16, width=4, hidden=24)
    models["sel"] = _fit(sel, x, y, objective="selectivenet", seed=4, coverage=0.8)
    return models


CASES = [("softmax", ["cnn"]), ("mc_dropout", ["cnn"]), ("ensemble", ["ens_0", "ens_1"]), ("selectivenet", ["sel"])]
MODES = [("white", {}), ("black", {"proxy": True}), ("iterative", {})]


@pytest.mark.parametrize("kind,names", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("mode,extra", MODES, ids=[m[0] for m in MODES])
def test_ace_keeps_every_prediction_for_every_estimator(zoo, data, kind, names, mode, extra):
    _, _, x, y = data
    est = build_estimator(kind, [zoo[n] for n in names], names, **({"T": 6} if kind == "mc_dropout" else {})).eval()
    with torch.no_grad():
        pred0, kappa0 = est(x).argmax(1), est.confidence(x)
    if mode == "iterative":
        r = run_attack("pgd", est, x, y, objective="ace", eps=0.1, steps=3, random_start=False)
    else:
        r = run_attack("ace", est, x, y, eps=0.1, proxy=zoo["proxy"] if extra else None)
    with torch.no_grad():
        pred1, kappa1 = est(r.x_adv).argmax(1), est.confidence(r.x_adv)
    assert torch.equal(pred0, pred1), f"{int((pred0 != pred1).sum())} predictions changed"
    assert (r.x_adv - x).abs().max() <= 0.1 + 1e-6
    assert (r.x_adv != x).flatten(1).any(1).float().mean() > 0.3  # the attack moved inputs
    correct = (pred0 == y).numpy()
    before, after = uncertainty_auroc(kappa0.numpy(), correct), uncertainty_auroc(kappa1.numpy(), correct)
    assert after < before - (0.1 if mode != "black" else 0.0)  # ACE moved the ranking the attacker's way
    if mode == "black":  # label queries only: 1 clean query + at most 15 halvings
        assert r.queries.max() <= 16


@pytest.mark.parametrize("kind,names", CASES, ids=[c[0] for c in CASES])
def test_kappa_is_decided_once(zoo, data, kind, names):
    """``outputs`` (what the study evaluates) and ``forward``/``confidence`` (what the attack
    engine calls) give the same log-probabilities and κ, bit for bit."""
    _, _, x, _ = data
    est = build_estimator(kind, [zoo[n] for n in names], names, **({"T": 6} if kind == "mc_dropout" else {})).eval()
    with torch.no_grad():
        logp, kappa = est.outputs(x)
        assert torch.equal(logp, est(x)) and torch.equal(kappa, est.confidence(x))
    if kind != "selectivenet":
        assert torch.equal(kappa, logp.exp().amax(1))  # the softmax response of the estimator's own p


def test_shared_mask_mc_dropout_is_deterministic_and_equals_explicit_subnetworks(zoo, data):
    _, _, x, _ = data
    model = zoo["cnn"]
    est = MCDropout(model, T=5, seed=3)
    full = est(x[:20])
    assert torch.allclose(full, est(x[:20]))
    assert torch.allclose(full[:7], est(x[:7]), atol=1e-6)  # batch composition does not matter
    assert torch.allclose(full[5:9], est(x[5:20])[:4], atol=1e-6)
    bb = model.backbone
    with torch.no_grad():
        h = bb.pre[:-1](bb.features((x[:20] - model.mean) / model.std))  # features before the dropout layer
        masks = est._mask(0, bb.pre[-1].p, h.shape[1:], h.device, h.dtype)
        probs = torch.stack([bb.head(h * masks[t]).softmax(1) for t in range(5)]).mean(0)
    assert torch.allclose(full.exp(), probs, atol=1e-5)
    assert not torch.allclose(masks[0], masks[1])  # the passes differ
    assert model.backbone.pre[-1].training is False  # modes restored


def test_selectivenet_checkpoint_round_trip(zoo, data, tmp_path):
    _, _, x, _ = data
    sel = zoo["sel"]
    spec = {"arch": "selectivenet", "input_shape": list(SHAPE), "num_classes": 10,
            "options": {"base": "small_cnn", "selector_hidden": 16, "width": 4, "hidden": 24}}
    save_model(tmp_path / "sel", sel, spec)
    loaded, _ = load_model(tmp_path / "sel")
    a, b = build_estimator("selectivenet", [sel], ["sel"]), build_estimator("selectivenet", [loaded], ["sel"])
    with torch.no_grad():
        assert torch.allclose(a.confidence(x), b.confidence(x), atol=1e-6)
        assert torch.allclose(a(x), b(x), atol=1e-6)
        g = a.confidence(x)
    assert 0 < float(g.min()) and float(g.max()) < 1 and float(g.std()) > 1e-3  # a trained, non-constant head


def test_bad_input_in_the_library(zoo):
    with pytest.raises(AdvlabError, match="mc_dropout.*ens_0 has none"):
        build_estimator("mc_dropout", [zoo["ens_0"]], ["ens_0"])
    with pytest.raises(AdvlabError, match="T=0"):
        build_estimator("mc_dropout", [zoo["cnn"]], ["cnn"], T=0)
    with pytest.raises(AdvlabError, match="M = 0"):
        build_estimator("ensemble", [], [])
    with pytest.raises(AdvlabError, match="arch 'selectivenet'.*cnn"):
        build_estimator("selectivenet", [zoo["cnn"]], ["cnn"])
    with pytest.raises(AdvlabError, match=r"coverage=1.5 must be in \(0.0, 1.0\]"):
        make_objective("selectivenet", coverage=1.5)
    with pytest.raises(AdvlabError, match="base='vit2'"):
        build_model("selectivenet", SHAPE, 10, base="vit2")
    with pytest.raises(AdvlabError, match="bad arguments.*'T'"):
        build_estimator("softmax", [zoo["cnn"]], ["cnn"], T=3)
    with pytest.raises(AdvlabError, match="wraps one model"):
        build_estimator("softmax", [zoo["cnn"], zoo["ens_0"]], ["cnn", "ens_0"])
    with pytest.raises(AdvlabError, match="estimator 'bayes' is unknown; known: ensemble, mc_dropout"):
        build_estimator("bayes", [zoo["cnn"]])
    assert {"softmax", "mc_dropout", "ensemble", "selectivenet"} <= set(ESTIMATORS.names())
