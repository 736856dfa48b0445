"""The membership family's pipeline stages on digits in a temporary directory:
shadows, references, target variants (DP-SGD and early stopping included), signals,
attacks; and the errors a user can cause (bad K, bad FPR, too few reference models,
signals from another split plan)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from advlab.attacks.membership import Signals
from advlab.errors import AdvlabError
from advlab.params import MiaAttackParams, TrainParams, validate

ATTACKS = ["loss", "ml_leaks", "watson", "lira_online", "lira_offline", "lira_online_fixed", "lira_offline_fixed",
           "lira_online_1query", "ldc_mia", "rmia_offline", "rmia_online"]


def params(**membership) -> dict:
    m = {
        "target_model": "cnn",
        "recipe": {"options": {"width": 4, "hidden": 16, "dropout": 0.0}, "train": {"epochs": 6, "batch_size": 32}},
        "pool": 200, "population": 60, "references": 2, "queries": ["id", "flip"],
        "targets": {
            "base": {"role": "baseline"},
            "early": {"role": "defense", "early_stopping": {"patience": 1}},
            "dp_eps2": {"role": "defense", "options": {"norm": "group"}, "train": {"epochs": 2}, "dp": {"epsilon": 2.0}},
        },
        "attack": {"ldc_epochs": 5},
    }
    m.update(membership)
    return {
        "seed": 0, "device": "cpu", "data": {"dataset": "digits"},
        "split": {"target_pool": 600, "validation": 100, "auxiliary": 150, "population": 60, "test": 200,
                  "attack_eval": 100, "shadow_models": 4},
        "models": {"cnn": {"arch": "small_cnn", "options": {"width": 4, "hidden": 16, "norm": "batch"},
                           "train": {"epochs": 2, "batch_size": 64, "optimizer": "adam", "lr": 0.01, "augment": []}}},
        "reports": ["models", "membership"],
        "membership": m,
    }


def write(tmp_path, raw: dict) -> None:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Run every membership stage once on digits; yields the folder."""
    from advlab.stages import mia_attack, mia_signals, mia_train, prepare

    tmp = tmp_path_factory.mktemp("mia")
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp)
    mp.setenv("CI", "true")
    write(tmp, params())
    try:
        assert prepare.main([]) == 0
        for kind in ("shadows", "references", "targets"):
            assert mia_train.main([kind]) == 0
        assert mia_signals.main([]) == 0
        assert mia_attack.main([]) == 0
        yield tmp
    finally:
        mp.undo()


def test_stages_write_models_signals_and_attack_results(pipeline):
    tmp = pipeline
    shadows = Signals.load(tmp / "results/membership/signals/shadows/pool.npz")
    assert shadows.logits.shape == (4, 200, 2, 10)
    assert (shadows.keep.sum(0) == 2).all()  # every pool example is in exactly K/2 shadow models
    target = Signals.load(tmp / "results/membership/signals/target_base/pool.npz")
    assert target.plan_hash == shadows.plan_hash and target.keep.shape == (1, 200)
    assert 0.3 < target.keep.mean() < 0.7
    for variant in ("base", "early", "dp_eps2"):
        res = json.loads((tmp / f"results/membership/attack/{variant}.json").read_text())
        names = set(res["attacks"])
        assert names == set(ATTACKS) - {"rmia_offline"} | {"rmia_offline_r1", "rmia_offline_r2"}
        for name, rec in res["attacks"].items():
            assert 0.0 <= rec["auc"] <= 1.0, name
            assert rec["n_nonmembers"] == int((~target.keep[0]).sum())
            assert set(rec["tpr_at_fpr"]) == {"0.0001", "0.001", "0.01"}
        cost = {n: r["cost"]["models_trained"] for n, r in res["attacks"].items()}
        assert cost["loss"] == 0 and cost["ml_leaks"] == 1 and cost["ldc_mia"] == 2 and cost["lira_online"] == 4
        assert cost["rmia_offline_r1"] == 1 and cost["watson"] == 2
        assert res["attacks"]["lira_online"]["cost"]["training_seconds"] > 0
    base = json.loads((tmp / "results/membership/attack/base.json").read_text())
    # the 6-epoch target memorises 100 digits: the loss attack must beat chance
    assert base["attacks"]["loss"]["auc"] > 0.55
    roc = (tmp / "results/membership/roc.csv").read_text().splitlines()
    assert roc[0] == "variant,attack,fpr,tpr" and len(roc) > 100
    scores = np.load(tmp / "results/membership/attack/base_scores.npz")
    assert scores["score_lira_online"].shape == (200,) and scores["members"].dtype == bool


def test_dp_target_reports_its_epsilon_and_early_stopping_its_epoch(pipeline):
    tmp = pipeline
    side = json.loads((tmp / "models/membership/targets/dp_eps2/model.json").read_text())
    priv = side["metrics"]["privacy"]
    assert priv["target_epsilon"] == 2.0
    assert 1.5 < priv["epsilon"] <= 2.0 + 1e-6  # calibrated noise spends (almost exactly) the target ε
    assert priv["noise_multiplier"] > 0.3 and priv["delta"] == pytest.approx(1 / side["metrics"]["examples"])
    assert "GroupNorm" not in side["spec"]["options"] and side["spec"]["options"]["norm"] == "group"
    es = json.loads((tmp / "models/membership/targets/early/model.json").read_text())["metrics"]["early_stopping"]
    assert 1 <= es["best_epoch"] <= es["epochs_run"] <= 6


def test_unchanged_targets_are_reused(pipeline, capsys):
    from advlab.stages import mia_train

    mp = pytest.MonkeyPatch()
    mp.chdir(pipeline)
    try:
        before = (pipeline / "models/membership/targets/base/model.safetensors").stat().st_mtime_ns
        assert mia_train.main(["targets"]) == 0
        assert capsys.readouterr().out.count("(reused)") == 3
        assert (pipeline / "models/membership/targets/base/model.safetensors").stat().st_mtime_ns == before
    finally:
        mp.undo()


def test_signals_from_another_plan_are_refused(pipeline, tmp_path, capsys):
    import shutil

    from advlab.stages import mia_attack

    for sub in ("data", "results", "params.yaml"):
        src = pipeline / sub
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / sub)
    path = tmp_path / "results/membership/signals/references/pool.npz"
    s = Signals.load(path)
    Signals(s.logits, s.labels, s.keep, "0123456789abcdef", s.meta).save(path)
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp_path)
    try:
        assert mia_attack.main([]) == 2
    finally:
        mp.undo()
    err = capsys.readouterr().err
    assert "references/pool.npz" in err and "0123456789abcdef" in err and "split plan" in err


def test_bad_params_name_the_key():
    bad_fpr = params(attack={"fprs": [0.0, 0.01]})
    with pytest.raises(AdvlabError, match=r"membership\.attack\.fprs.*strictly between 0 and 1"):
        validate(bad_fpr)
    with pytest.raises(AdvlabError, match=r"membership\.attack\.fprs"):
        validate(params(attack={"fprs": [1.5]}))
    too_many = params(attack={"rmia_references": [1, 3]})
    with pytest.raises(AdvlabError, match=r"rmia_references asks for 3 reference models.*trains only 2"):
        validate(too_many)
    bn_dp = params(targets={"dp": {"dp": {"epsilon": 1.0}}})
    with pytest.raises(AdvlabError, match=r"BatchNorm.*norm: group"):
        validate(bn_dp)
    with pytest.raises(AdvlabError, match=r"shadow_models.*even"):
        raw = params()
        raw["split"]["shadow_models"] = 3
        validate(raw)


def test_shadow_count_needs_k_at_least_one_and_even():
    from advlab.stages.mia_common import shadow_count

    with pytest.raises(AdvlabError, match=r"K = 0 shadow models"):
        shadow_count(SimpleNamespace(shadow_keep=np.zeros((0, 10), bool)))
    with pytest.raises(AdvlabError, match=r"odd K = 3"):
        shadow_count(SimpleNamespace(shadow_keep=np.zeros((3, 10), bool)))
    assert shadow_count(SimpleNamespace(shadow_keep=np.zeros((4, 10), bool))) == 4


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
    from advlab.stages.mia_attack import run_attacks

    target, shadows, refs = _synthetic_signals(2, 1)
    a = MiaAttackParams(attacks=["rmia_offline"], rmia_references=[2])
    with pytest.raises(AdvlabError, match=r"attack rmia_offline_r2 needs 2 reference model.*only 1 were trained"):
        run_attacks(target, shadows, refs, target, shadows, refs, a)
    with pytest.raises(AdvlabError, match=r"attack lira_online needs 4 shadow models but only 2"):
        run_attacks(target, shadows, refs, target, shadows, refs, MiaAttackParams(attacks=["lira_online"]))
    out = run_attacks(target, shadows, refs, target, shadows, refs,
                      MiaAttackParams(attacks=["loss", "lira_online_fixed", "rmia_offline"], rmia_references=[1]))
    assert set(out) == {"loss", "lira_online_fixed", "rmia_offline_r1"}


def test_fit_private_spends_its_epsilon_and_refuses_batchnorm():
    from advlab.models.zoo import build_model
    from advlab.training.dp import fit_private
    from advlab.training.objectives import make_objective

    torch.manual_seed(0)
    x, y = torch.rand(256, 1, 8, 8), torch.randint(0, 10, (256,))
    cfg = TrainParams(epochs=2, batch_size=32, lr=0.01)
    model = build_model("small_cnn", (1, 8, 8), 10, width=4, hidden=8, norm="group")
    w0 = [p.detach().clone() for p in model.parameters()]
    result, spent = fit_private(model, x, y, cfg, make_objective("standard"), epsilon=4.0)
    assert len(result.history) == 2
    assert spent.delta == pytest.approx(1 / 256) and spent.steps == 2 * 8
    assert 3.0 < spent.epsilon <= 4.0 + 1e-6
    assert any(not torch.equal(a, b) for a, b in zip(w0, model.parameters()))
    out = model(x[:4])  # Opacus' hooks are gone: the plain model still runs
    assert out.shape == (4, 10)
    bn = build_model("small_cnn", (1, 8, 8), 10, width=4, hidden=8, norm="batch")
    with pytest.raises(AdvlabError, match=r"norm: group"):
        fit_private(bn, x, y, cfg, make_objective("standard"), epsilon=1.0)
