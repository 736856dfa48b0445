"""The long-tailed subsample of the imbalance study (calibration family)."""

import numpy as np
import pytest

from advlab.data.longtail import long_tailed, long_tailed_counts


def test_long_tailed_counts_follow_the_exponential_profile():
    c = long_tailed_counts(1000, 10, 100.0)
    assert c[0] == 1000 and c[-1] == 10
    assert np.all(np.diff(c) <= 0)
    assert c[0] / c[-1] == pytest.approx(100.0)
    assert np.all(long_tailed_counts(50, 10, 1.0) == 50)


def test_long_tailed_subsample_is_seeded_and_subset():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 5000)
    idx = np.arange(5000) + 7
    a = long_tailed(idx, labels, 10.0, 10, seed=3)
    assert np.array_equal(a, long_tailed(idx, labels, 10.0, 10, seed=3))
    assert set(a) <= set(idx)
    counts = np.bincount(labels[a - 7], minlength=10)
    n_max = np.bincount(labels).min()
    assert counts[0] == n_max and counts[9] == int(n_max / 10 + 1e-9)
    assert np.all(np.diff(counts) <= 0)
