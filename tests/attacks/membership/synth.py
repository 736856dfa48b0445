"""Synthetic saved signals for the membership tests (no model training).

Each example has a difficulty ``b_i``; a model's true-class logit is ``b_i`` plus
``gap`` when the example was in its training set, plus noise. ``gap = 0`` makes
members and non-members exchangeable.
"""

import numpy as np


def synth(n=400, k=5, m=9, q=2, gap=2.0, seed=0, keep=None):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    b = rng.normal(0.0, 1.5, n)
    if keep is None:
        # model 0 (the target) takes a random half; each example is IN exactly half of the
        # other models, independently of the target. (Drawing the target from the same
        # balanced matrix would make the shadows' IN/OUT counts depend on the target's
        # membership, which biases LiRA's small-sample medians below AUC 0.5 on null data.)
        keep = np.zeros((m, n), dtype=bool)
        keep[0] = rng.random(n) < 0.5
        for i in range(n):
            keep[1 + rng.permutation(m - 1)[: (m - 1) // 2], i] = True
    logits = rng.normal(0.0, 1.0, (m, n, q, k))
    bump = b[None, :, None] + gap * keep[:, :, None] + rng.normal(0.0, 0.5, (m, n, 1)) + rng.normal(0, 0.1, (m, n, q))
    logits[np.arange(m)[:, None, None], np.arange(n)[None, :, None], np.arange(q)[None, None, :],
           labels[None, :, None]] += bump
    return logits.astype(np.float32), labels, keep
