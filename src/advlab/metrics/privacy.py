"""Membership-inference metrics (SPEC §1 "membership ROC", §5 cost accounting).

Members are the positive class. ``TPR@FPR`` is the largest TPR on the ROC whose FPR
is ≤ the target (Carlini et al. 2022, §III-C). With ``n`` non-members an FPR of
``t`` allows ``t·n`` false positives: below 1 the only ROC point with FPR ≤ t is FPR = 0,
and below :data:`MIN_FALSE_POSITIVES` (5) the TPR rests on a handful of non-members, so
the report flags every such cell (``low_power``, :func:`low_power`) rather than hide it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from advlab.errors import check
from advlab.metrics.roc import roc_auc, roc_curve

DEFAULT_FPRS: tuple[float, ...] = (1e-4, 1e-3, 1e-2)

#: a TPR at FPR ``t`` is flagged ``low_power`` when it rests on fewer false positives than this (``t·n < 5``)
MIN_FALSE_POSITIVES = 5


def low_power(fpr: float, n_nonmembers: int) -> bool:
    """True when FPR ``fpr`` allows fewer than :data:`MIN_FALSE_POSITIVES` false positives among
    ``n_nonmembers`` non-members (``fpr · n_nonmembers < 5``): too few to estimate that TPR."""
    return bool(fpr * n_nonmembers < MIN_FALSE_POSITIVES)


def _inputs(scores, members) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    m = np.asarray(members)
    check(s.ndim == 1, f"scores must be 1-D; got shape {s.shape}")
    check(m.shape == s.shape and m.dtype == np.bool_,
          f"members must be a bool array of the same shape as scores {s.shape}; got {m.dtype} {m.shape}")
    check(np.isfinite(s).all(), f"scores contain {int((~np.isfinite(s)).sum())} NaN/inf values")
    check(m.any() and (~m).any(),
          f"members must hold both members and non-members; got {int(m.sum())} members, {int((~m).sum())} non-members")
    return s, m


def _check_fpr(fpr: float) -> float:
    check(isinstance(fpr, (int, float, np.floating)) and 0.0 < float(fpr) < 1.0,
          f"fpr must be a number strictly between 0 and 1; got {fpr!r}")
    return float(fpr)


def roc(scores, members) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` of :func:`advlab.metrics.roc.roc_curve`, members positive."""
    return roc_curve(*_inputs(scores, members))


def auc(scores, members) -> float:
    """Area under the ROC (:func:`advlab.metrics.roc.roc_auc`; the trapezoid sum of the reports)."""
    return roc_auc(*_inputs(scores, members), area="trapezoid")


def tpr_at_fpr(scores, members, fpr: float) -> float:
    """The largest TPR whose FPR ≤ ``fpr`` (``fpr`` strictly in (0, 1))."""
    target = _check_fpr(fpr)
    f, t, _ = roc(scores, members)
    return float(t[f <= target].max())


@dataclass
class MembershipReport:
    """AUC and TPR@FPR of one attack, with the sample counts that bound them."""

    auc: float
    tpr_at_fpr: dict[float, float]
    n_members: int
    n_nonmembers: int
    low_power: dict[float, bool]  # target·n_nonmembers < MIN_FALSE_POSITIVES (:func:`low_power`)

    def to_dict(self) -> dict:
        """JSON-ready dict; FPR keys as strings such as ``"0.0001"``."""
        return {
            "auc": self.auc,
            "tpr_at_fpr": {f"{k:g}": v for k, v in self.tpr_at_fpr.items()},
            "n_members": self.n_members,
            "n_nonmembers": self.n_nonmembers,
            "low_power": {f"{k:g}": v for k, v in self.low_power.items()},
        }


def membership_report(scores, members, fprs=DEFAULT_FPRS) -> MembershipReport:
    """AUC, TPR at each FPR in ``fprs`` (default 1e-4, 1e-3, 1e-2), the counts, and low-power flags."""
    fprs = [_check_fpr(f) for f in fprs]
    s, m = _inputs(scores, members)
    f, t, _ = roc(s, m)
    n_non = int((~m).sum())
    return MembershipReport(
        auc=roc_auc(s, m, area="trapezoid"),
        tpr_at_fpr={x: float(t[f <= x].max()) for x in fprs},
        n_members=int(m.sum()),
        n_nonmembers=n_non,
        low_power={x: low_power(x, n_non) for x in fprs},
    )


def per_class_tpr_at_fpr(scores, members, labels, fpr: float) -> dict[int, dict]:
    """TPR@FPR within each class (own ROC per class), with its member/non-member counts.

    A class lacking members or non-members gets ``tpr = nan``.
    """
    target = _check_fpr(fpr)
    s, m = _inputs(scores, members)
    y = np.asarray(labels)
    check(y.shape == s.shape and np.issubdtype(y.dtype, np.integer),
          f"labels must be an integer array of shape {s.shape}; got {y.dtype} {y.shape}")
    out = {}
    for c in np.unique(y):
        sel = y == c
        n_mem, n_non = int(m[sel].sum()), int((~m[sel]).sum())
        tpr = tpr_at_fpr(s[sel], m[sel], target) if n_mem and n_non else float("nan")
        out[int(c)] = {"tpr": tpr, "n_members": n_mem, "n_nonmembers": n_non, "low_power": low_power(target, n_non)}
    return out


@dataclass
class AttackCost:
    """What an attack cost the attacker (SPEC §5): models trained and their training time."""

    models_trained: int = 0
    training_seconds: float = 0.0
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(int(self.models_trained) == self.models_trained and self.models_trained >= 0,
              f"models_trained must be a non-negative integer; got {self.models_trained!r}")
        check(self.training_seconds >= 0, f"training_seconds must be >= 0; got {self.training_seconds!r}")
        self.models_trained = int(self.models_trained)
        self.training_seconds = float(self.training_seconds)

    def __add__(self, other: "AttackCost") -> "AttackCost":
        return AttackCost(self.models_trained + other.models_trained,
                          self.training_seconds + other.training_seconds, {**self.notes, **other.notes})

    def to_dict(self) -> dict:
        return asdict(self)


def attack_record(name: str, scores, members, cost: AttackCost, fprs=DEFAULT_FPRS) -> dict:
    """One JSON-ready row: attack name, its metrics and its cost side by side."""
    check(isinstance(name, str) and name, "name must be a non-empty string")
    return {"attack": name, **membership_report(scores, members, fprs).to_dict(), "cost": cost.to_dict()}
