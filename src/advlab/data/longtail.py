"""Long-tailed training sets for the class-imbalance study (SPEC §3 analysis, issue 4).

Exponential profile (Cui et al. 2019, "Class-Balanced Loss Based on Effective Number of
Samples", the long-tailed CIFAR construction): class ``c`` of ``K`` (ordered by class
index) keeps ``n_c = ⌊n_max · r^{−c/(K−1)}⌋`` examples, ``r = n_max / n_min`` the
imbalance ratio, ``n_max`` the size of the smallest class of the balanced set (so every
class can supply its quota). Which examples a class keeps is a seeded draw.
"""

from __future__ import annotations

import numpy as np

from advlab.errors import check


def long_tailed_counts(n_max: int, num_classes: int, ratio: float) -> np.ndarray:
    """Per-class quotas ``⌊n_max · ratio^{−c/(K−1)}⌋`` (at least 1)."""
    check(ratio >= 1.0, f"imbalance_ratio={ratio!r}: must be >= 1 (1 = balanced)")
    c = np.arange(num_classes)
    frac = ratio ** (-c / max(num_classes - 1, 1))
    return np.maximum((n_max * frac + 1e-9).astype(np.int64), 1)


def long_tailed(indices: np.ndarray, labels: np.ndarray, ratio: float, num_classes: int | None = None,
                seed: int = 0) -> np.ndarray:
    """Subsample ``indices`` (with their ``labels``) to the exponential long-tailed profile.

    Returns the kept indices in their original order. ``ratio = 1`` keeps ``n_max`` per class.
    """
    indices, labels = np.asarray(indices), np.asarray(labels)
    check(len(indices) == len(labels), f"{len(indices)} indices but {len(labels)} labels")
    k = int(labels.max()) + 1 if num_classes is None else num_classes
    present = np.bincount(labels, minlength=k)
    check(present.min() > 0, f"long_tailed: class {int(present.argmin())} has no example to keep")
    quota = long_tailed_counts(int(present.min()), k, float(ratio))
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(indices), bool)
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        keep[rng.choice(rows, size=quota[c], replace=False)] = True
    return indices[keep]
