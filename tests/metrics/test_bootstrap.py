"""The bootstrap intervals against scipy.stats.bootstrap (percentile method) on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from advlab.errors import AdvlabError
from advlab.metrics.bootstrap import INCONCLUSIVE, Interval, bootstrap, bootstrap_many, bootstrap_weighted, verdict
from advlab.metrics.calibration import ece
from advlab.metrics.privacy import auc, tpr_at_fpr


def scipy_interval(statistic, *arrays, n=4000):
    """scipy resamples the example indices (one sample), so paired and 2-D inputs (probabilities) work alike."""
    def on_indices(i):
        return statistic(*(a[i.astype(int)] for a in arrays))

    res = stats.bootstrap((np.arange(len(arrays[0])),), on_indices, n_resamples=n, confidence_level=0.95,
                          method="percentile", vectorized=False, random_state=np.random.default_rng(1))
    return res.confidence_interval.low, res.confidence_interval.high


def test_accuracy_interval_matches_scipy():
    rng = np.random.default_rng(0)
    correct = (rng.random(500) < 0.8).astype(float)
    ours = bootstrap(np.mean, correct, n_resamples=4000)
    lo, hi = scipy_interval(np.mean, correct)
    assert ours.value == pytest.approx(correct.mean())
    assert ours.lo == pytest.approx(lo, abs=0.006) and ours.hi == pytest.approx(hi, abs=0.006)
    # and the normal approximation agrees on the width (±1.96 SE)
    se = np.sqrt(0.8 * 0.2 / 500)
    assert ours.hi - ours.lo == pytest.approx(2 * 1.96 * se, rel=0.12)


def test_paired_statistics_match_scipy():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 400)
    logits = rng.normal(size=(400, 3)) + 2.0 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ours = bootstrap(ece, probs, y, n_resamples=2000)
    lo, hi = scipy_interval(ece, probs, y, n=2000)
    assert ours.lo == pytest.approx(lo, abs=0.006) and ours.hi == pytest.approx(hi, abs=0.006)
    members = rng.random(600) < 0.5
    scores = rng.normal(size=600) + 0.5 * members
    ours = bootstrap(auc, scores, members, n_resamples=2000)
    lo, hi = scipy_interval(auc, scores, members, n=2000)
    assert ours.lo == pytest.approx(lo, abs=0.01) and ours.hi == pytest.approx(hi, abs=0.01)


def test_strata_keep_group_sizes_and_seed_repeats():
    rng = np.random.default_rng(3)
    members = np.repeat([True, False], [300, 700])
    scores = rng.normal(size=1000) + members
    seen = []

    def nonmembers(s, m):
        seen.append(int((~m).sum()))
        return tpr_at_fpr(s, m, 0.01)

    a = bootstrap(nonmembers, scores, members, n_resamples=200, strata=members)
    assert set(seen) == {700}  # every resample kept 700 non-members
    b = bootstrap(lambda s, m: tpr_at_fpr(s, m, 0.01), scores, members, n_resamples=200, strata=members)
    assert (a.lo, a.hi) == (b.lo, b.hi)
    c = bootstrap(lambda s, m: tpr_at_fpr(s, m, 0.01), scores, members, n_resamples=200, strata=members, seed=1)
    assert (c.lo, c.hi) != (a.lo, a.hi)
    assert a.lo <= a.value <= a.hi


@pytest.mark.parametrize("kwargs, key", [({"n_resamples": 99}, "n_resamples=99"), ({"confidence": 1.0}, "confidence=1.0"),
                                         ({"confidence": 0.0}, "confidence=0.0")])
def test_bad_settings_name_the_key(kwargs, key):
    with pytest.raises(AdvlabError, match=key):
        bootstrap(np.mean, np.ones(10), **kwargs)


def test_verdicts():
    iv = Interval(0.3, 0.25, 0.35, 0.95, 1000)
    assert verdict(iv, above=0.2) == "holds"
    assert verdict(iv, above=0.4) == "does not hold"
    assert verdict(iv, above=0.3) == INCONCLUSIVE
    assert verdict(iv, below=0.5) == "holds" and verdict(iv, below=0.1) == "does not hold"
    assert str(iv) == "0.3 [0.25, 0.35]" and iv.percent() == "30.0 % [25.0, 35.0]"


def test_weighted_resamples_equal_resampled_arrays():
    """bootstrap_weighted draws bootstrap_many's resamples: an ROC reweighted by the multiplicities
    gives the AUC and TPR@FPR of the ROC recomputed on the resampled arrays (ties included)."""
    from advlab.metrics.privacy import roc
    from advlab.metrics.roc import weighted_roc

    rng = np.random.default_rng(3)
    members = rng.random(400) < 0.5
    scores = np.round(rng.normal(size=400) + 0.4 * members, 1)  # rounded: many tie groups
    fprs = (0.01, 0.1)

    def direct(s, m):
        f, t, _ = roc(s, m)
        return [float(np.trapezoid(t, f)), *(float(t[f <= x].max()) for x in fprs)]

    curve = weighted_roc(scores, members)

    def weighted(w, *_):
        f, t = curve(w)
        return [float(np.trapezoid(t, f)), *(float(t[f <= x].max()) for x in fprs)]

    kw = dict(n_resamples=200, seed=7, strata=members)
    a = bootstrap_many(direct, scores, members, **kw)
    b = bootstrap_weighted(weighted, scores, members, **kw)
    for x, y in zip(a, b):
        assert x.value == y.value
        assert np.isclose(x.lo, y.lo, rtol=0, atol=1e-12) and np.isclose(x.hi, y.hi, rtol=0, atol=1e-12)
    assert a[0].lo < a[0].value < a[0].hi  # a real interval, not a degenerate one
