"""Robustness metrics (SPEC §1): certified accuracy vs radius, and the evasion summary
(clean / robust accuracy, attack success rate, perturbation norms, queries).

Inputs are numpy arrays or torch tensors; outputs are floats or numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from advlab.errors import check
from advlab.metrics.calibration import _np

__all__ = ["certified_accuracy", "certified_accuracy_curve", "perturbation_norms", "robustness_summary"]


def certified_accuracy(predictions, radius, labels, radii: float | Sequence[float]) -> np.ndarray:
    """Certified accuracy at each radius ``r`` (Cohen et al. 2019, §4): the fraction of test
    points whose smoothed prediction is correct (not an abstention, −1) with certified L2
    radius ``≥ r``. Returns an array shaped like ``radii``.
    """
    pred, rad, y = _np(predictions).reshape(-1), _np(radius).reshape(-1), _np(labels).reshape(-1)
    check(pred.shape == rad.shape == y.shape, f"predictions, radius, labels have sizes {pred.size}, {rad.size}, {y.size}: they must match")
    r = np.asarray(radii, dtype=np.float64)
    check(bool((r >= 0).all()), f"radii={r.tolist()!r}: radii must be >= 0")
    correct = (pred == y) & (pred >= 0)
    out = (correct[None, :] & (rad[None, :] >= r.reshape(-1, 1))).mean(axis=1)
    return out.reshape(r.shape)


def certified_accuracy_curve(predictions, radius, labels, max_radius: float | None = None, num: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Certified accuracy on an even grid of ``num`` radii from 0 to ``max_radius``
    (default: the largest certified radius). Returns ``(radii, accuracy)`` for plotting."""
    check(isinstance(num, int) and num >= 2, f"num={num!r}: the curve needs an integer number of points >= 2")
    if max_radius is None:
        rad = _np(radius)
        max_radius = float(rad.max()) if rad.size and rad.max() > 0 else 1.0
    grid = np.linspace(0.0, float(max_radius), num)
    return grid, certified_accuracy(predictions, radius, labels, grid)


def perturbation_norms(x, x_adv) -> dict[str, np.ndarray]:
    """Per-sample L∞ and L2 norms of ``x_adv − x`` (flattened over all but the batch dim)."""
    d = (_np(x_adv) - _np(x)).reshape(len(_np(x)), -1)
    return {"linf": np.abs(d).max(axis=1), "l2": np.sqrt((d**2).sum(axis=1))}


def robustness_summary(clean_pred, adv_pred, labels, x=None, x_adv=None, queries=None) -> dict[str, float]:
    """Evasion metrics of SPEC §1.

    ``attack_success_rate`` is over the samples the model got right on clean inputs
    (an untargeted attack cannot "succeed" on a sample that was already wrong).
    Norms are means over all samples; queries (if given) are the mean and median over
    successful samples and the total over all samples.
    """
    cp, ap, y = _np(clean_pred).reshape(-1), _np(adv_pred).reshape(-1), _np(labels).reshape(-1)
    check(cp.shape == ap.shape == y.shape, "clean_pred, adv_pred and labels must have the same length")
    clean_ok = cp == y
    success = clean_ok & (ap != y)
    out = {
        "n": float(y.size),
        "clean_accuracy": float(clean_ok.mean()),
        "robust_accuracy": float((ap == y).mean()),
        "attack_success_rate": float(success.sum() / clean_ok.sum()) if clean_ok.any() else float("nan"),
    }
    if x is not None and x_adv is not None:
        for k, v in perturbation_norms(x, x_adv).items():
            out[f"{k}_mean"] = float(v.mean())
            out[f"{k}_max"] = float(v.max())
    if queries is not None:
        q = _np(queries).reshape(-1)
        out["queries_mean"] = float(q[success].mean()) if success.any() else float("nan")
        out["queries_median"] = float(np.median(q[success])) if success.any() else float("nan")
        out["queries_total"] = float(q.sum())
    return out
