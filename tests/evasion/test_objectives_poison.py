"""Robust training objectives (PGD-AT, TRADES, Gaussian noise), poisoning helpers and the
reusable detection evaluation, on tiny digits models."""

import pytest
import torch
import torch.nn.functional as F

from advlab.errors import AdvlabError
from advlab.training.objectives import make_objective
from advlab.training.robust import _TrainCE, adversarial_examples
from advlab.stages.evasion_poison import backdoor, flip_labels, stamp
from advlab.defenses.detection_eval import evaluate_detectors, make_detector
from advlab.models.zoo import build_model


@pytest.fixture(scope="module")
def data(digits):
    x = torch.from_numpy(digits.images[:400]).float() / 255.0
    y = torch.from_numpy(digits.labels[:400]).long()
    return x, y


@pytest.fixture(scope="module")
def model(data):
    x, y = data
    torch.manual_seed(0)
    m = build_model("small_cnn", (1, 8, 8), 10, width=8, hidden=32)
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    for _ in range(25):
        for i in range(0, len(x), 100):
            loss = F.cross_entropy(m(x[i:i + 100]), y[i:i + 100])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return m.eval()


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


def test_label_flip_changes_exactly_the_requested_fraction():
    y = torch.arange(1000) % 10
    out, idx = flip_labels(y, 0.2, 10, torch.Generator().manual_seed(0))
    assert len(idx) == 200 and (out != y).sum() == 200 and (out[idx] != y[idx]).all()
    assert out.min() >= 0 and out.max() <= 9


def test_backdoor_stamps_and_relabels():
    x, y = torch.zeros(100, 1, 8, 8), torch.arange(100) % 10
    xp, yp, idx = backdoor(x, y, 0.05, 3, 2, 1.0, torch.Generator().manual_seed(0))
    assert len(idx) == 5 and (yp[idx] == 3).all()
    assert xp[idx][..., -2:, -2:].eq(1).all() and xp[idx].sum() == 5 * 4
    rest = torch.ones(100, dtype=torch.bool)
    rest[idx] = False
    assert xp[rest].eq(0).all() and (yp[rest] == y[rest]).all()
    assert stamp(x[:1], 3, 0.5)[..., -3:, -3:].eq(0.5).all()


def test_detection_eval_rows_and_separation(model, data):
    x, y = data
    x_fit, y_fit, x_clean = x[:200], y[:200], x[200:300]
    noise = (x_clean + 0.5 * torch.randn_like(x_clean)).clamp(0, 1)  # far off the data: easy to detect
    rows = evaluate_detectors(model, x_fit, y_fit, x_clean, {"noise": noise, "same": x_clean.clone()},
                              lid_k=5, masks={"same": torch.arange(100) < 50})
    assert len(rows) == 6 and {r["detector"] for r in rows} == {"feature_squeezing", "mahalanobis", "lid"}
    by = {(r["detector"], r["attack"]): r for r in rows}
    assert by[("mahalanobis", "noise")]["auroc"] > 0.9
    assert by[("mahalanobis", "same")]["n_adv"] == 50 and abs(by[("mahalanobis", "same")]["auroc"] - 0.5) < 0.2
    with pytest.raises(AdvlabError, match="detector 'odin'"):
        make_detector("odin")
