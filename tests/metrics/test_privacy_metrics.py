import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from advlab.errors import AdvlabError
from advlab.metrics import privacy


def _scores(n=2000, seed=0, ties=True):
    rng = np.random.default_rng(seed)
    members = rng.random(n) < 0.4
    s = rng.normal(0, 1, n) + 0.8 * members
    if ties:
        s = np.round(s, 1)  # many ties
    return s, members


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ties", [True, False])
def test_roc_and_tpr_at_fpr_match_sklearn(seed, ties):
    s, m = _scores(seed=seed, ties=ties)
    fpr, tpr, thr = privacy.roc(s, m)
    f2, t2, th2 = roc_curve(m, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_allclose(thr[1:], th2[1:])
    for target in (1e-3, 1e-2, 0.05, 0.3):
        assert privacy.tpr_at_fpr(s, m, target) == pytest.approx(t2[f2 <= target].max())
    assert privacy.auc(s, m) == pytest.approx(roc_auc_score(m, s), abs=1e-12)


def test_tpr_at_fpr_is_largest_tpr_under_target_not_interpolated():
    # 4 non-members, 2 members; only FPR 0, .25, .5, ... are reachable
    s = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    m = np.array([True, False, True, False, False, False])
    assert privacy.tpr_at_fpr(s, m, 0.2) == 0.5
    assert privacy.tpr_at_fpr(s, m, 0.25) == 1.0


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_fpr_outside_open_unit_interval_errors(bad):
    s, m = _scores(n=50)
    with pytest.raises(AdvlabError, match="fpr"):
        privacy.tpr_at_fpr(s, m, bad)
    with pytest.raises(AdvlabError, match="fpr"):
        privacy.membership_report(s, m, fprs=(1e-3, bad))


def test_report_counts_and_low_power_flags():
    s, m = _scores(n=1000, seed=2)
    rep = privacy.membership_report(s, m)
    n_non = int((~m).sum())
    assert rep.n_nonmembers == n_non and rep.n_members == int(m.sum())
    assert 500 <= n_non < 1000
    # flagged where FPR x non-members < 5 false positives: 1e-4 and 1e-3 (< 1 and < 1 FP), not 1e-2 (>= 5 FP)
    assert rep.low_power == {1e-4: True, 1e-3: True, 1e-2: False}
    d = json.loads(json.dumps(rep.to_dict()))
    assert set(d["tpr_at_fpr"]) == {"0.0001", "0.001", "0.01"}
    assert d["auc"] == pytest.approx(roc_auc_score(m, s))


def test_inputs_checked():
    s, m = _scores(n=20)
    with pytest.raises(AdvlabError, match="both members and non-members"):
        privacy.auc(s, np.ones(20, dtype=bool))
    with pytest.raises(AdvlabError, match="NaN"):
        privacy.auc(np.r_[np.nan, s[1:]], m)
    with pytest.raises(AdvlabError, match="bool"):
        privacy.auc(s, m.astype(int))


def test_per_class_tpr_at_fpr():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 3000)
    members = rng.random(3000) < 0.5
    # class 0 leaks strongly, class 2 not at all
    s = rng.normal(0, 1, 3000) + members * np.array([4.0, 1.0, 0.0])[labels]
    out = privacy.per_class_tpr_at_fpr(s, members, labels, 0.01)
    assert set(out) == {0, 1, 2}
    assert out[0]["tpr"] > 0.8 > out[1]["tpr"] > out[2]["tpr"]
    for c in range(3):
        sel = labels == c
        f, t, _ = roc_curve(members[sel], s[sel])
        assert out[c]["tpr"] == pytest.approx(t[f <= 0.01].max())
        assert out[c]["n_nonmembers"] == int((~members[sel]).sum())


def test_attack_cost_record():
    c = privacy.AttackCost(models_trained=2, training_seconds=3.5) + privacy.AttackCost(1, 1.0)
    assert c.to_dict()["models_trained"] == 3 and c.training_seconds == 4.5
    with pytest.raises(AdvlabError, match="models_trained"):
        privacy.AttackCost(models_trained=-1)
    s, m = _scores(n=100)
    row = privacy.attack_record("loss", s, m, c)
    assert row["attack"] == "loss" and row["cost"]["models_trained"] == 3 and "tpr_at_fpr" in row


def test_low_power_means_fewer_than_five_false_positives():
    assert privacy.MIN_FALSE_POSITIVES == 5
    assert privacy.low_power(1e-3, 4999) and not privacy.low_power(1e-3, 5000)  # 4.999 vs 5 false positives
    assert privacy.low_power(1e-2, 499) and not privacy.low_power(1e-2, 500)
    assert privacy.low_power(1e-4, 10_000)  # 1 false positive: resolvable, but too few
    # membership_report and per_class_tpr_at_fpr apply the same rule
    rng = np.random.default_rng(3)
    members = np.r_[np.ones(100, bool), np.zeros(600, bool)]
    s = rng.normal(0, 1, 700) + members
    rep = privacy.membership_report(s, members, fprs=(0.005, 0.01))
    assert rep.low_power == {0.005: True, 0.01: False}  # 3 vs 6 false positives allowed
    labels = np.r_[np.zeros(350, np.int64), np.ones(350, np.int64)]  # 250 and 350 non-members
    per_class = privacy.per_class_tpr_at_fpr(s, members, labels, 0.016)
    assert {c: v["low_power"] for c, v in per_class.items()} == {0: True, 1: False}  # 4 vs 5.6 false positives
