"""SPEC §6 claims from saved per-example results: the verdict follows the interval."""

from __future__ import annotations

import json
from types import SimpleNamespace as NS

import numpy as np
import pytest

from advlab.metrics.calibration import ece_from_confidence
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



def test_membership_claims_are_not_testable_when_the_baseline_is_at_chance(tmp_path):
    """When no attack leaks on the undefended baseline, neither "LDC-MIA beats LOSS" nor "DP-SGD pulls
    every attack toward chance" can be told from the data: no verdict, whatever the intervals say."""
    rng = np.random.default_rng(2)
    members = np.repeat([1, 0], 2000)
    noise = {f"score_{a}": rng.normal(size=4000) for a in ("ldc_mia", "loss", "watson", "lira_online")}
    (tmp_path / "attack").mkdir()
    np.savez(tmp_path / "attack" / "base_scores.npz", members=members, **noise)
    np.savez(tmp_path / "attack" / "dp_scores.npz", members=members, score_loss=rng.normal(size=4000))
    (tmp_path / "attack" / "base.json").write_text(json.dumps({"attacks": {}}))
    p = NS(membership=NS(targets={"base": NS(dp=None), "dp": NS(dp=NS(epsilon=1.0))}))
    rows = claims.claims_table("membership", tmp_path, p, **KW)
    assert len(rows) == 3
    assert all(v.startswith(claims.NOT_TESTABLE + " (the undefended baseline 'base'") for v in rows["verdict"])
    assert all(f.endswith("]") for f in rows["figure"])  # the measured figure stays

def test_a_family_without_claims_gives_an_empty_table(tmp_path):
    assert claims.claims_table("models", tmp_path, None).empty


# --- calibration: the defense claim (paired bootstrap over the targets' shared inputs) ----------

STRONG, WEAK = ("caat", "compression_scaling"), ("temperature", "label_smoothing", "pgd_at")
ATTACKS = ("under_square_linf", "maxmis_pgd_linf")


def _calibration_targets(tmp_path, gaps: dict[str, float], n=400, shift_index=()):
    """Each target's JSON and ``_samples.npz`` in the stages' layout: 80 % accuracy, every attack's
    confidence ``gap`` above it (so its ECE is about ``gap``); ``shift_index`` targets saved other inputs."""
    rng = np.random.default_rng(2)
    folder = tmp_path / "targets"
    folder.mkdir(exist_ok=True)
    y = rng.integers(0, 10, n)
    for t, gap in gaps.items():
        pred = np.where(rng.random(n) < 0.8, y, (y + 1) % 10)
        arrays = {"index": np.arange(n) + (1 if t in shift_index else 0), "labels": y,
                  "conf_clean": rng.uniform(0.5, 1.0, n).astype(np.float32), "pred_clean": pred}
        attacks = {}
        for i, key in enumerate(ATTACKS):
            conf = np.clip(0.8 + gap * (1 + 0.2 * i) + 0.05 * rng.normal(size=n), 0.11, 1.0).astype(np.float32)
            arrays[f"{key}_conf"], arrays[f"{key}_pred"] = conf, pred
            attacks[key] = {"search": key.split("_", 1)[1], "objective": key.split("_")[0],
                            "ece_adv": ece_from_confidence(conf, (pred == y).astype(float), 15)}
        np.savez(folder / f"{t}_samples.npz", **arrays)
        (folder / f"{t}.json").write_text(json.dumps({"target": t, "n": n, "attacks": attacks}))
    return NS(calibration=NS(models=[], targets={t: None for t in gaps}), evaluate=NS(n_bins=15))


def _defense_row(tmp_path, p):
    rows = claims.claims_table("calibration", tmp_path, p, **KW)
    assert len(rows) == 1
    return rows.iloc[0]


def test_calibration_defense_claim_is_a_paired_bootstrap(tmp_path):
    r = _defense_row(tmp_path, _calibration_targets(tmp_path, {**dict.fromkeys(STRONG, 0.02), **dict.fromkeys(WEAK, 0.15),
                                                                "undefended": 0.5}))
    assert r["verdict"] == "holds"
    assert "minus the highest of caat, compression_scaling" in r["claim"] and "no interval" not in r["claim"]
    assert r["figure"].startswith("+") and "]; worst ECE caat" in r["figure"]
    assert "undefended" not in r["figure"]  # neither a strong nor a weak defense
    r = _defense_row(tmp_path, _calibration_targets(tmp_path, {**dict.fromkeys(STRONG, 0.15), **dict.fromkeys(WEAK, 0.02)}))
    assert r["verdict"] == "does not hold" and r["figure"].startswith("-")


def test_calibration_defense_margin_is_the_direct_difference(tmp_path, monkeypatch):
    gaps = {"caat": 0.05, "compression_scaling": 0.08, "temperature": 0.2, "pgd_at": 0.12}
    p = _calibration_targets(tmp_path, gaps)
    seen = []
    real = claims.bootstrap
    monkeypatch.setattr(claims, "bootstrap", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    r = _defense_row(tmp_path, p)
    worst = {}
    for t in gaps:
        z = np.load(tmp_path / "targets" / f"{t}_samples.npz")
        worst[t] = max(ece_from_confidence(z[f"{k}_conf"], (z[f"{k}_pred"] == z["labels"]).astype(float), 15)
                       for k in ATTACKS)
    (iv,) = seen
    assert iv.value == pytest.approx(min(worst["temperature"], worst["pgd_at"]) - max(worst["caat"], worst["compression_scaling"]))
    assert iv.lo <= iv.value <= iv.hi and iv.n_resamples == KW["n_resamples"]
    assert r["figure"].startswith(f"{iv.value:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}]")
    assert f"caat {worst['caat']:.3f}" in r["figure"]


def test_calibration_defense_claim_leaves_out_standard_attacks(tmp_path):
    p = _calibration_targets(tmp_path, {**dict.fromkeys(STRONG, 0.02), **dict.fromkeys(WEAK, 0.15)})
    path = tmp_path / "targets" / "caat.json"
    info = json.loads(path.read_text())
    info["attacks"]["standard_square_linf"] = {"kind": "standard", "ece_adv": 0.9}  # no arrays: never looked up
    path.write_text(json.dumps(info))
    assert _defense_row(tmp_path, p)["verdict"] == "holds"


def test_calibration_defense_claim_falls_back_to_point_estimates(tmp_path):
    gaps = {**dict.fromkeys(STRONG, 0.02), **dict.fromkeys(WEAK, 0.15)}
    p = _calibration_targets(tmp_path, gaps)
    (tmp_path / "targets" / "caat_samples.npz").unlink()  # results from before the targets saved their arrays
    r = _defense_row(tmp_path, p)
    assert r["verdict"] == "holds (point estimates only)" and "no per-example data for caat" in r["claim"]
    assert "[" not in r["figure"] and "caat 0.0" in r["figure"]
    p = _calibration_targets(tmp_path, gaps, shift_index=("pgd_at",))
    r = _defense_row(tmp_path, p)
    assert r["verdict"] == "holds (point estimates only)" and "index arrays differ" in r["claim"]
