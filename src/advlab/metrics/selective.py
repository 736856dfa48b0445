"""Selective-prediction metrics (SPEC §1, used by §4): risk–coverage curve, AURC, E-AURC,
uncertainty AUROC, selective risk at fixed coverages.

Inputs are a per-sample uncertainty score ``confidence`` (κ; higher = more confident) and
a per-sample ``correct`` indicator (``1[ŷ = y]``), as numpy arrays or torch tensors.

Ties. Samples with equal confidence are indistinguishable to a selective classifier, so
no order among them is "right". We therefore report the EXPECTED value under a uniformly
random order within each tie group: inside a group, each kept sample is wrong with the
group's error rate. This is deterministic, does not depend on the order of the input,
and matches how ROC AUC counts ties (as ½). A constant score gives risk = overall error at
every coverage, and AUROC = 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from advlab.errors import check
from advlab.metrics.calibration import _np
from advlab.metrics.roc import roc_auc

__all__ = [
    "risk_coverage_curve",
    "aurc",
    "optimal_aurc",
    "e_aurc",
    "uncertainty_auroc",
    "selective_risk",
    "selective_summary",
]

DEFAULT_COVERAGES = (0.5, 0.8, 0.9, 1.0)


def _inputs(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    conf = _np(confidence).reshape(-1)
    corr = _np(correct).reshape(-1)
    check(conf.shape == corr.shape, f"confidence has {conf.size} values but correct has {corr.size}: they must match")
    check(conf.size > 0, "confidence is empty: selective metrics need at least one sample")
    check(bool(np.isfinite(conf).all()), "confidence contains NaN or inf: every score must be finite")
    check(bool(np.isin(corr, (0.0, 1.0)).all()), "correct must hold only 0/1 (or booleans)")
    return conf, corr


def risk_coverage_curve(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    """Risk–coverage curve (Geifman & El-Yaniv 2017; SPEC §1).

    Sort by confidence, most confident first; the selective risk at coverage ``k/n`` is
    the error rate of the first ``k`` samples, ``k = 1..n``. Ties are resolved by their
    expectation under a random order (module docstring). Returns ``(coverage, risk)``,
    each of length ``n``.
    """
    conf, corr = _inputs(confidence, correct)
    n = conf.size
    order = np.argsort(-conf, kind="stable")
    conf_s, err_s = conf[order], 1.0 - corr[order]
    # Tie groups of the sorted scores: [start, end) per position.
    new_group = np.r_[True, conf_s[1:] != conf_s[:-1]]
    starts_of_groups = np.flatnonzero(new_group)
    ends_of_groups = np.r_[starts_of_groups[1:], n]
    group = np.cumsum(new_group) - 1
    start, end = starts_of_groups[group], ends_of_groups[group]
    cum_err = np.r_[0.0, np.cumsum(err_s)]
    group_rate = (cum_err[end] - cum_err[start]) / (end - start)
    k = np.arange(1, n + 1)
    expected_errors = cum_err[start] + (k - start) * group_rate
    return k / n, expected_errors / k


def aurc(confidence, correct) -> float:
    """Area under the risk–coverage curve: mean selective risk over ``k/n, k = 1..n``."""
    return float(risk_coverage_curve(confidence, correct)[1].mean())


def optimal_aurc(error_rate: float) -> float:
    """``AURC* = r + (1 − r)·ln(1 − r)`` (Geifman, Uziel & El-Yaniv 2019), the AURC of a perfect ranking.

    This closed form is the continuous (large-n) limit of the discrete optimum; for ``n``
    samples the two differ by O(log n / n). At ``r = 1`` the limit ``(1 − r) ln(1 − r) → 0`` is used.
    """
    r = float(error_rate)
    check(0 <= r <= 1, f"error_rate={r!r}: must be in [0, 1]")
    return r + ((1 - r) * math.log(1 - r) if r < 1 else 0.0)


def e_aurc(confidence, correct) -> float:
    """Excess AURC: ``AURC − AURC*`` with ``r`` the error rate (Geifman, Uziel & El-Yaniv 2019)."""
    _, corr = _inputs(confidence, correct)
    return aurc(confidence, correct) - optimal_aurc(1.0 - corr.mean())


def uncertainty_auroc(confidence, correct) -> float:
    """ROC AUC of κ separating correct (positive) from incorrect predictions (SPEC §1).

    The exact Mann–Whitney area of :func:`advlab.metrics.roc.roc_auc`, so a tie between a
    correct and an incorrect sample counts ½. NaN when every prediction is correct or every one is
    wrong (the AUROC is undefined then). 0.5 = useless; < 0.5 = inverted.
    """
    conf, corr = _inputs(confidence, correct)
    return roc_auc(conf, corr == 1)


def selective_risk(confidence, correct, coverages: float | Sequence[float] = DEFAULT_COVERAGES) -> np.ndarray:
    """Selective risk at the given coverages ``c ∈ (0, 1]``.

    Keeps the ``k = ceil(c·n)`` most confident samples (so at least a fraction ``c`` is
    covered) and returns the risk-coverage curve at ``k``; same tie rule as
    :func:`risk_coverage_curve`. Returns an array shaped like ``coverages``.
    """
    cov = np.atleast_1d(np.asarray(coverages, dtype=np.float64))
    check(
        bool(((cov > 0) & (cov <= 1)).all()),
        f"coverages={np.asarray(coverages).tolist()!r}: every coverage must be in (0, 1]",
    )
    _, risk = risk_coverage_curve(confidence, correct)
    n = risk.size
    # The small slack stops 0.9*n = 900.0000000001 from rounding up to 901.
    k = np.clip(np.ceil(cov * n - 1e-9).astype(np.int64), 1, n)
    out = risk[k - 1]
    return out if np.ndim(coverages) else out.reshape(())


def selective_summary(confidence, correct, coverages: Sequence[float] = DEFAULT_COVERAGES) -> dict[str, float]:
    """All §4 selective metrics in one dict: accuracy, AURC, E-AURC, AUROC, risk@coverage."""
    _, corr = _inputs(confidence, correct)
    risks = selective_risk(confidence, correct, coverages)
    out = {
        "accuracy": float(corr.mean()),
        "aurc": aurc(confidence, correct),
        "e_aurc": e_aurc(confidence, correct),
        "auroc": uncertainty_auroc(confidence, correct),
    }
    out.update({f"risk@{c:g}": float(r) for c, r in zip(coverages, risks)})
    return out
