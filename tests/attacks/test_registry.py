"""The engine's registries: a search registered anywhere runs through ``run_attack``
unchanged; objectives carry their family; batching follows the one seed rule."""

import pytest
import torch

from advlab.attacks import ATTACKS, OBJECTIVES, AttackResult, AttackSpec, register_attack, run_attack
from advlab.attacks.objectives import Objective, make_objective, objective_names, objective_params
from advlab.attacks.spec import positive_int
from advlab.errors import AdvlabError


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made in a test are undone afterwards."""
    monkeypatch.setattr(ATTACKS, "_entries", dict(ATTACKS._entries))
    monkeypatch.setattr(ATTACKS, "_meta", dict(ATTACKS._meta))
    monkeypatch.setattr(OBJECTIVES, "_entries", dict(OBJECTIVES._entries))
    monkeypatch.setattr(OBJECTIVES, "_meta", dict(OBJECTIVES._meta))


def test_a_search_registered_in_a_test_runs_through_the_engine(cnn, batch, scratch_registry):
    calls = []

    @register_attack(AttackSpec("identity", "none", {"copies": 1}, {"copies": positive_int("copies", 1)}))
    def identity(c):
        calls.append(c.p["copies"])
        return c.x.clone()

    x, y = batch
    assert "identity" in ATTACKS and ATTACKS.get("identity").search is identity
    res = run_attack("identity", cnn, x[:30], y[:30], batch_size=20, copies=2)
    assert isinstance(res, AttackResult) and len(res) == 30 and calls == [2, 2]
    assert torch.equal(res.x_adv, x[:30]) and res.linf.max() == 0
    assert torch.equal(res.adv_pred, res.clean_pred)
    assert res.attack == "identity" and res.objective == "ce" and res.params["copies"] == 2
    with pytest.raises(AdvlabError, match="copies=0 is not allowed"):
        run_attack("identity", cnn, x[:4], y[:4], copies=0)
    with pytest.raises(AdvlabError, match=r"parameter\(s\) \['steps'\] are unknown for attack 'identity'"):
        run_attack("identity", cnn, x[:4], y[:4], steps=3)


def test_unknown_attack_names_every_registered_search():
    with pytest.raises(AdvlabError) as err:
        run_attack("zoo", torch.nn.Flatten(), torch.zeros(1, 1, 2, 2), torch.zeros(1, dtype=torch.long))
    for name in ("fgsm", "pgd", "cw", "square", "hsja", "transfer", "ace", "apgd", "autoattack"):
        assert repr(name) in str(err.value)


def test_objective_families_drive_the_allowed_lists():
    calibration = [n for n in OBJECTIVES.names() if OBJECTIVES.meta(n)["family"] == "calibration"]
    assert sorted(calibration) == ["max_miscalibration", "overconfidence", "random_confidence", "underconfidence"]
    assert objective_names("misclassify") == ("ce", "margin", "dlr", "dlr_targeted")
    assert objective_names("ace") == ("ace",)
    assert objective_names()[0] == "ce"  # the default objective of fgsm, pgd and transfer
    assert ATTACKS.get("square").allowed_objectives() == ("margin", "ce", "underconfidence", "overconfidence",
                                                          "max_miscalibration", "random_confidence", "ace")
    assert objective_params() == {"tau_u", "tau_o", "tolerance"}
    with pytest.raises(AdvlabError, match="objective='nope' is unknown"):
        make_objective("nope")


def test_a_calibration_objective_is_one_class_and_one_registration(cnn, batch, scratch_registry):
    from advlab.attacks.objectives import pick, register

    @register("calibration")
    class HalfConfidence(Objective):
        name = "half_confidence"
        label_preserving = True

        def __init__(self, tau_h: float = 0.05):
            self.tau_h = tau_h

        def score(self, logp, kappa, s):
            return -(pick(logp, s["yhat"]).exp() - 0.5).abs()

        def done(self, logp, kappa, s):
            return (pick(logp, s["yhat"]).exp() - 0.5).abs() <= self.tau_h

    assert "half_confidence" in [n for n in OBJECTIVES.names() if OBJECTIVES.meta(n)["family"] == "calibration"]
    x, y = batch
    res = run_attack("pgd", cnn, x[:20], y[:20], objective="half_confidence", tau_h=0.1, eps=0.1, steps=5)
    assert torch.equal(res.adv_pred, res.clean_pred)  # label-preserving: the engine's contract holds


def test_batching_is_seed_plus_chunk_index(cnn, batch):
    """``run_attack(batch_size=B)`` = one call per chunk of B with seed ``seed + b`` (the
    rule of the stages' former ``attack_batched``), concatenated."""
    x, y = batch
    x, y = x[:50], y[:50]
    opts = {"eps": 0.1, "steps": 3, "random_start": True}
    whole = run_attack("pgd", cnn, x, y, batch_size=20, seed=7, **opts)
    parts = [run_attack("pgd", cnn, x[i:i + 20], y[i:i + 20], seed=7 + b, **opts)
             for b, i in enumerate(range(0, 50, 20))]
    for f in ("x_adv", "success", "queries", "adv_pred", "probs_adv"):
        assert torch.equal(getattr(whole, f), torch.cat([getattr(r, f) for r in parts])), f
    one = run_attack("pgd", cnn, x, y, seed=7, **opts)
    assert not torch.equal(one.x_adv, whole.x_adv)  # the seed per chunk matters
