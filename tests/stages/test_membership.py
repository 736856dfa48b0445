"""The membership family's pipeline stages, run through their ``main`` on digits in a
temporary directory: shadows, references, target variants (DP-SGD and early stopping
included), signals, every registered attack; target reuse; signals from another split
plan refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from advlab.attacks.membership import Signals, attack_runs
from advlab.params import MiaAttackParams
from tests.mia_params import params, prepared_project


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Run every membership stage once on digits; yields the folder."""
    from advlab.stages import mia_attack, mia_signals, mia_train

    with prepared_project(tmp_path_factory, "mia", params()) as tmp:
        for kind in ("shadows", "references", "targets"):
            assert mia_train.main([kind]) == 0
        assert mia_signals.main([]) == 0
        assert mia_attack.main([]) == 0
        yield tmp


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
        names = list(res["attacks"])
        # attacks: null runs every registered attack, RMIA offline once per count of reference models
        assert names == [r for r, _, _ in attack_runs(MiaAttackParams())]
        assert {"loss", "ml_leaks", "watson", "lira_online", "lira_offline", "lira_online_fixed", "lira_offline_fixed",
                "lira_online_1query", "ldc_mia", "rmia_offline_r1", "rmia_offline_r2", "rmia_online"} <= set(names)
        assert "rmia_offline" not in names
        for name, rec in res["attacks"].items():
            assert 0.0 <= rec["auc"] <= 1.0, name
            assert rec["n_nonmembers"] == int((~target.keep[0]).sum())
            assert set(rec["tpr_at_fpr"]) == {"0.0001", "0.001", "0.01"}
        cost = {n: r["cost"]["models_trained"] for n, r in res["attacks"].items()}
        assert cost["loss"] == 0 and cost["ml_leaks"] == 1 and cost["ldc_mia"] == 2 and cost["lira_online"] == 4
        assert cost["rmia_offline_r1"] == 1 and cost["watson"] == 2
        assert res["attacks"]["lira_online"]["cost"]["training_seconds"] > 0
        assert res["queries"] == ["id", "flip"] and res["queries_from"] == "params"  # tests.mia_params lists them
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
    assert priv["noise_multiplier"] > 0.3 and priv["delta"] == 1e-5
    assert "GroupNorm" not in side["spec"]["options"] and side["spec"]["options"]["norm"] == "group"
    es = json.loads((tmp / "models/membership/targets/early/model.json").read_text())["metrics"]["early_stopping"]
    assert 1 <= es["best_epoch"] <= es["epochs_run"] <= 6


@pytest.mark.parametrize("kind,first,count", [("targets", "base", 3), ("shadows", "000", 4)])
def test_unchanged_models_are_reused(pipeline, capsys, kind, first, count):
    from advlab.stages import mia_train

    mp = pytest.MonkeyPatch()
    mp.chdir(pipeline)
    try:
        weights = pipeline / f"models/membership/{kind}/{first}/model.safetensors"
        before = weights.stat().st_mtime_ns
        assert mia_train.main([kind]) == 0
        assert capsys.readouterr().out.count("(reused)") == count
        assert weights.stat().st_mtime_ns == before
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


def test_default_queries_follow_the_recipe_and_lira_reports_one_and_all(pipeline, tmp_path):
    """queries: null -> the recipe's augmentations (crop + hflip on 8 px digits: pad 1, 10 queries) in
    every signal set and result; LiRA is reported with every query and with the identity alone."""
    import shutil

    import yaml

    from advlab.stages import mia_attack, mia_signals

    for sub in ("data", "models", "params.yaml"):
        src = pipeline / sub
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / sub)
    raw = yaml.safe_load((tmp_path / "params.yaml").read_text())
    # only the queries are under test: the saved models (trained unaugmented) are queried as they are
    raw["membership"].update(queries=None, attack={"ldc_epochs": 2, "attacks": ["lira_online", "lira_online_1query"]})
    raw["membership"]["recipe"]["train"]["augment"] = ["crop", "hflip"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    derived = ["id", "flip", "shift:1:0", "shift:-1:0", "shift:0:1", "shift:0:-1",
               "flip+shift:1:0", "flip+shift:-1:0", "flip+shift:0:1", "flip+shift:0:-1"]
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp_path)
    try:
        assert mia_signals.main([]) == 0 and mia_attack.main([]) == 0
    finally:
        mp.undo()
    for group in ("shadows", "references", "target_base"):
        s = Signals.load(tmp_path / f"results/membership/signals/{group}/pool.npz")
        assert s.n_queries == 10 and s.meta["queries"] == derived, group
    res = json.loads((tmp_path / "results/membership/attack/base.json").read_text())
    assert res["queries"] == derived and res["queries_from"] == "recipe" and list(res["attacks"]) == ["lira_online", "lira_online_1query"]
    z = np.load(tmp_path / "results/membership/attack/base_scores.npz")
    assert not np.allclose(z["score_lira_online"], z["score_lira_online_1query"])  # 10 queries vs the identity
