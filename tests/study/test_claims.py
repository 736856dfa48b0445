"""SPEC §6 claims from saved per-example results: the verdict follows the interval."""

from __future__ import annotations

import json
from types import SimpleNamespace as NS

import numpy as np

from advlab.study import claims

KW = {"n_resamples": 200, "seed": 0}


def _evasion_results(tmp_path, robust: dict[str, float], n=400):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    for model, acc in robust.items():
        keep = rng.random(n) < acc
        pred = np.where(keep, y, (y + 1) % 10)
        (tmp_path / "attacks").mkdir(exist_ok=True)
        np.savez(tmp_path / "attacks" / f"{model}_adv.npz", y=y, pgd40_adv_pred=pred)
        (tmp_path / "attacks" / f"{model}.json").write_text(json.dumps(
            {"attacks": {"pgd40": {"n": n, "clean_accuracy": 0.9, "robust_accuracy": float(keep.mean())}}}))
    return NS(evasion=NS(models=list(robust), attacks={"pgd40": NS(attack="pgd", eps=0.1)}, certify=None))


def test_evasion_claims_follow_the_intervals(tmp_path):
    p = _evasion_results(tmp_path, {"cnn": 0.01, "cnn_pgdat": 0.7})
    rows = claims.claims_table("evasion", tmp_path, p, **KW)
    assert list(rows["verdict"]) == ["holds", "holds"]
    assert rows["figure"][0].endswith("]") and "%" in rows["figure"][0]
    p = _evasion_results(tmp_path, {"cnn": 0.3, "cnn_pgdat": 0.2})  # far from 0; PGD-AT keeps < half of 90 %
    assert list(claims.claims_table("evasion", tmp_path, p, **KW)["verdict"]) == ["does not hold", "does not hold"]
    p = _evasion_results(tmp_path, {"cnn": 0.05, "cnn_pgdat": 0.45}, n=100)  # at the thresholds: the data cannot tell
    assert set(claims.claims_table("evasion", tmp_path, p, **KW)["verdict"]) == {claims.INCONCLUSIVE}


def test_membership_claims_use_member_and_nonmember_strata(tmp_path):
    rng = np.random.default_rng(1)
    members = np.repeat([1, 0], 1000)
    strong = rng.normal(size=2000) + 3.0 * members
    weak = rng.normal(size=2000) + 0.2 * members
    (tmp_path / "attack").mkdir()
    np.savez(tmp_path / "attack" / "base_scores.npz", members=members, score_ldc_mia=strong, score_loss=weak,
             score_watson=weak + 0.01 * rng.normal(size=2000), score_lira_online=strong + 0.1 * rng.normal(size=2000))
    np.savez(tmp_path / "attack" / "dp_scores.npz", members=members, score_loss=rng.normal(size=2000))
    (tmp_path / "attack" / "base.json").write_text(json.dumps(
        {"attacks": {"lira_online": {"cost": {"models_trained": 8}}, "ldc_mia": {"cost": {"models_trained": 2}}}}))
    p = NS(membership=NS(targets={"base": NS(dp=None), "dp": NS(dp=NS(epsilon=1.0))}))
    rows = claims.claims_table("membership", tmp_path, p, **KW)
    assert len(rows) == 3
    assert rows["verdict"][0] == "holds"  # LDC-MIA far above LOSS and Watson
    assert rows["verdict"][1] == "holds" and "8 models" in rows["claim"][1]  # close to LiRA
    assert rows["verdict"][2] == "holds"  # a random score: AUC interval around 0.5


def test_a_family_without_claims_gives_an_empty_table(tmp_path):
    assert claims.claims_table("models", tmp_path, None).empty
