"""The one ROC/AUC (advlab.metrics.roc): scikit-learn's curve and area, bit for bit for the
sums the reports use, and the exact Mann–Whitney area."""

import math

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score, roc_curve as sk_roc_curve

from advlab.metrics.roc import roc_auc, roc_curve


def _cases(n_cases=300, seed=0):
    rng = np.random.default_rng(seed)
    for t in range(n_cases):
        n = int(rng.integers(2, 800))
        s = [rng.integers(0, 15, n).astype(float),                          # heavy ties
             np.round(rng.random(n), 2),                                     # some ties
             rng.random(n).astype(np.float32).astype(float),                 # float32 scores
             np.where(rng.random(n) < 0.3, 1.0, rng.random(n))][t % 4]       # saturated softmax
        pos = rng.random(n) < rng.uniform(0.05, 0.95)
        if pos.any() and (~pos).any():
            yield s, pos


def _rank_auc(s, pos):  # the former uncertainty AUROC (average ranks)
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((rankdata(s)[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def test_curve_is_sklearns_bit_for_bit():
    for s, pos in _cases():
        for drop in (False, True):
            ours, theirs = roc_curve(s, pos, drop_intermediate=drop), sk_roc_curve(pos, s, drop_intermediate=drop)
            assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_each_area_is_the_former_implementation_bit_for_bit_and_all_agree():
    worst = 0.0
    for s, pos in _cases():
        exact = roc_auc(s, pos)
        assert exact == _rank_auc(s, pos)
        assert roc_auc(s, pos, area="trapezoid_dropped") == roc_auc_score(pos, s)
        fpr, tpr, _ = sk_roc_curve(pos, s, drop_intermediate=False)
        assert roc_auc(s, pos, area="trapezoid") == float(np.trapezoid(tpr, fpr))
        worst = max(worst, *(abs(roc_auc(s, pos, area=a) - exact) for a in ("trapezoid", "trapezoid_dropped")))
    assert worst <= 3e-16


def test_ties_count_half_and_edge_cases():
    assert roc_auc([1.0, 1.0], [True, False]) == 0.5
    assert roc_auc([0.1, 0.2, 0.3, 0.4], [False, False, True, True]) == 1.0
    assert roc_auc([0.1, 0.2, 0.3, 0.4], [True, True, False, False]) == 0.0
    assert math.isnan(roc_auc([0.1, 0.2], [True, True])) and math.isnan(roc_auc([0.1, 0.2], [False, False]))
    with pytest.raises(ValueError, match="area="):
        roc_auc([0.1, 0.2], [True, False], area="simpson")
