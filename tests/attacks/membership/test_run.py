"""Running attacks through the registry: the models each needs, variants, costs, errors."""

import numpy as np
import pytest

from advlab.attacks.membership import MIA_ATTACKS, MiaInputs, Signals, attack_runs, registered_attacks, run_attacks
from advlab.attacks.membership.registry import MODEL_KINDS, QUERIES, SIGNAL_SETS, register
from advlab.errors import AdvlabError
from advlab.params import MiaAttackParams


def _synthetic_signals(k_shadows: int, n_refs: int):
    rng = np.random.default_rng(0)
    n, q, c = 60, 2, 5
    labels = rng.integers(0, c, n)

    def s(m, keep):
        return Signals(rng.normal(size=(m, n, q, c)).astype(np.float32), labels, keep, "plan")

    keep = np.zeros((k_shadows, n), bool)
    for i in range(n):
        keep[rng.permutation(k_shadows)[: k_shadows // 2], i] = True
    target = s(1, (rng.random(n) < 0.5)[None])
    return target, s(k_shadows, keep), s(n_refs, np.zeros((n_refs, n), bool))


def test_attacks_that_need_more_models_than_trained_say_so():
    target, shadows, refs = _synthetic_signals(2, 1)
    a = MiaAttackParams(attacks=["rmia_offline"], rmia_references=[2])
    with pytest.raises(AdvlabError, match=r"attack rmia_offline_r2 needs 2 reference model.*only 1 were trained"):
        run_attacks(MiaInputs(target, shadows, refs, target, shadows, refs, a))
    with pytest.raises(AdvlabError, match=r"attack lira_online needs 4 shadow models but only 2"):
        run_attacks(MiaInputs(target, shadows, refs, target, shadows, refs, MiaAttackParams(attacks=["lira_online"])))
    out = run_attacks(MiaInputs(target, shadows, refs, target, shadows, refs,
                                MiaAttackParams(attacks=["loss", "lira_online_fixed", "rmia_offline"], rmia_references=[1])))
    assert set(out) == {"loss", "lira_online_fixed", "rmia_offline_r1"}


def test_every_registration_declares_signals_models_and_cost():
    assert registered_attacks()[:3] == ["loss", "ml_leaks", "watson"]  # table order
    for name in MIA_ATTACKS.names():
        meta = MIA_ATTACKS.meta(name)
        assert meta["signals"] and set(meta["signals"]) <= set(SIGNAL_SETS), name
        assert "target" in meta["signals"], name
        assert set(meta["models"]) <= set(MODEL_KINDS) and set(meta["minimum"]) == set(meta["models"]), name
        assert meta["queries"] in QUERIES, name
        for kind in meta["models"]:
            assert kind in meta["signals"] or (kind == "shadows" and "population" in meta["signals"]), name


def test_variants_and_costs_follow_the_metadata():
    target, shadows, refs = _synthetic_signals(4, 2)
    for s, seconds in ((shadows, [1.0, 2.0, 3.0, 4.0]), (refs, [10.0, 20.0])):
        s.meta["models"] = [{"model": f"m{i}", "train_seconds": t} for i, t in enumerate(seconds)]
    a = MiaAttackParams(attacks=["rmia_offline", "loss", "lira_online", "ldc_mia"], rmia_references=[2, 1], ldc_epochs=2)
    assert [r for r, _, _ in attack_runs(a)] == ["rmia_offline_r2", "rmia_offline_r1", "loss", "lira_online", "ldc_mia"]
    out = run_attacks(MiaInputs(target, shadows, refs, target, shadows, refs, a))
    assert list(out) == ["rmia_offline_r2", "rmia_offline_r1", "loss", "lira_online", "ldc_mia"]
    cost = {k: (c.models_trained, c.training_seconds) for k, (_, c) in out.items()}
    assert cost == {"rmia_offline_r2": (2, 30.0), "rmia_offline_r1": (1, 10.0), "loss": (0, 0.0),
                    "lira_online": (4, 10.0), "ldc_mia": (2, 11.0)}
    assert all(s.shape == (target.n_examples,) for s, _ in out.values())


def test_a_new_registration_runs_without_touching_the_dispatch(monkeypatch):
    target, shadows, refs = _synthetic_signals(2, 1)
    monkeypatch.setattr(MIA_ATTACKS, "_entries", dict(MIA_ATTACKS._entries))
    monkeypatch.setattr(MIA_ATTACKS, "_meta", dict(MIA_ATTACKS._meta))
    register("zz_constant", lambda inp, *, value: np.full(inp.target.n_examples, value), signals=("target",),
             value=0.5)
    assert registered_attacks()[-1] == "zz_constant"  # unordered attacks come last
    out = run_attacks(MiaInputs(target, shadows, refs, target, shadows, refs, MiaAttackParams(attacks=["zz_constant"])))
    assert list(out) == ["zz_constant"] and (out["zz_constant"][0] == 0.5).all()
    with pytest.raises(ValueError, match="unknown model kind"):
        register("zz_bad", lambda inp: None, signals=("target",), models={"teachers": 1})
