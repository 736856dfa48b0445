"""The study's one ROC curve and ROC AUC (SPEC §1): membership inference, uncertainty
AUROC and adversarial-example detection all call these two functions.

``positive`` marks the positive class (members, correct predictions, adversarial inputs);
a point at threshold ``t`` counts ``score ≥ t`` as positive, so a tie between a positive
and a negative counts ½ in the area.

The area has one definition, ``U / (P·N)`` (the Mann–Whitney statistic: the probability
that a random positive outscores a random negative, ties ½), which is the exact area of
the trapezoids under :func:`roc_curve`. The float ways of summing those trapezoids differ
in the last bit, and the committed report tables were produced by three of them, so
:func:`roc_auc` keeps each (``area=``) to keep every reported number bit for bit:

* ``"exact"``: integer counts and one division (the correctly rounded ``U/(P·N)``; same
  bits as the rank formula with average ranks) — uncertainty AUROC;
* ``"trapezoid"``: ``np.trapezoid`` over every point of the curve — membership AUC;
* ``"trapezoid_dropped"``: ``np.trapezoid`` over the curve without its collinear points
  (``sklearn.metrics.roc_auc_score``'s sum) — detection AUROC.

They agree to 2.3e-16 (``tests/metrics/test_roc.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["roc_counts", "roc_curve", "roc_auc", "weighted_roc", "AREAS"]

AREAS = ("exact", "trapezoid", "trapezoid_dropped")


def _arrays(scores, positive) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    p = np.asarray(positive).reshape(-1).astype(bool)
    if s.shape != p.shape:
        raise ValueError(f"scores has {s.size} values but positive has {p.size}: they must match")
    return s, p


def roc_counts(scores, positive) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fp, tp, thresholds)``: integer counts of ``score ≥ t`` per distinct score ``t``,
    highest first (no ``(0, 0)`` point)."""
    s, p = _arrays(scores, positive)
    order = np.argsort(-s, kind="mergesort")
    s, p = s[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each tie group
    return np.cumsum(~p)[last], np.cumsum(p)[last], s[last]


def weighted_roc(scores, positive) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``curve(weights) -> (fpr, tpr)``: the ROC of the sample that holds example ``i``
    ``weights[i]`` times (a bootstrap resample), the scores sorted once for every call.

    The points are those of :func:`roc_curve` on that sample, plus a repeat of the previous
    point for each tie group of weight 0 (no area, no new TPR at any FPR)."""
    s, p = _arrays(scores, positive)
    order = np.argsort(-s, kind="mergesort")
    p = p[order]
    last = np.r_[np.flatnonzero(np.diff(s[order])), s.size - 1]  # last index of each tie group

    def curve(weights) -> tuple[np.ndarray, np.ndarray]:
        w = np.asarray(weights)[order]
        fp, tp = np.cumsum(np.where(p, 0, w))[last], np.cumsum(np.where(p, w, 0))[last]
        return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]

    return curve


def roc_curve(scores, positive, *, drop_intermediate: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)``: one point per distinct score plus ``(0, 0)`` at +inf.

    ``drop_intermediate`` drops the points collinear with their neighbours (they do not
    change the curve), by the rule of ``sklearn.metrics.roc_curve``; without it the points
    are those of ``roc_curve(positive, scores, drop_intermediate=False)``.
    """
    fp, tp, thr = roc_counts(scores, positive)
    if drop_intermediate and fp.size > 2:
        keep = np.flatnonzero(np.r_[True, (np.diff(fp, 2) != 0) | (np.diff(tp, 2) != 0), True])
        fp, tp, thr = fp[keep], tp[keep], thr[keep]
    return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]], np.r_[np.inf, thr]


def roc_auc(scores, positive, *, area: str = "exact") -> float:
    """Area under the ROC, ties ½; NaN without positives or without negatives.

    ``area`` picks the float summation (module docstring); the value is ``U/(P·N)`` up
    to the last bit for each."""
    if area not in AREAS:
        raise ValueError(f"area={area!r}: choose one of {', '.join(AREAS)}")
    fp, tp, _ = roc_counts(scores, positive)
    n_neg, n_pos = int(fp[-1]) if fp.size else 0, int(tp[-1]) if tp.size else 0
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    if area == "exact":
        fp, tp = np.r_[0, fp], np.r_[0, tp]
        twice_u = int((np.diff(fp) * (tp[1:] + tp[:-1])).sum())  # exact: integers
        return twice_u / (2 * n_pos * n_neg)
    fpr, tpr, _ = roc_curve(scores, positive, drop_intermediate=area == "trapezoid_dropped")
    return float(np.trapezoid(tpr, fpr))
