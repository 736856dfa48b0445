"""Calibration metrics (SPEC §1): ECE, MCE, KS error, reliability data.

All functions take class probabilities ``probs`` of shape (n, K) (or confidences
and correctness) as numpy arrays or torch tensors and return plain floats or
numpy arrays, so they work on saved outputs as well as live models.
"""

from __future__ import annotations

import numpy as np
import torch

N_BINS = 15


def _np(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


def confidence_and_correct(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """Return ``c = max p`` and ``1[argmax p = y]`` for each sample."""
    p = _np(probs)
    y = _np(labels).astype(np.int64)
    return p.max(axis=1), (p.argmax(axis=1) == y).astype(np.float64)


def reliability(conf, correct, n_bins: int = N_BINS) -> dict[str, np.ndarray]:
    """Per-bin count, mean confidence and accuracy over equal-width bins ``(lo, hi]``.

    Empty bins have count 0 and NaN confidence/accuracy. Bin edges follow
    torchmetrics (a confidence of exactly 0 falls in the first bin).
    """
    conf, correct = _np(conf), _np(correct)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(idx, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, sum_conf / count, np.nan)
        acc = np.where(count > 0, sum_acc / count, np.nan)
    return {"lo": edges[:-1], "hi": edges[1:], "count": count, "confidence": mean_conf, "accuracy": acc}


def ece(probs, labels, n_bins: int = N_BINS) -> float:
    """Expected calibration error: ``Σ_b |B_b|/n · |acc_b − conf_b|`` (Guo et al. 2017)."""
    return ece_from_confidence(*confidence_and_correct(probs, labels), n_bins=n_bins)


def ece_from_confidence(conf, correct, n_bins: int = N_BINS) -> float:
    """:func:`ece` from saved confidences and correctness (what the attack families store)."""
    r = reliability(conf, correct, n_bins=n_bins)
    gap = np.nan_to_num(np.abs(r["accuracy"] - r["confidence"]))
    return float((r["count"] / r["count"].sum() * gap).sum())


def mce(probs, labels, n_bins: int = N_BINS) -> float:
    """Maximum calibration error: ``max_b |acc_b − conf_b|`` over non-empty bins."""
    r = reliability(*confidence_and_correct(probs, labels), n_bins=n_bins)
    nonempty = r["count"] > 0
    return float(np.abs(r["accuracy"] - r["confidence"])[nonempty].max())


def ks_error(probs, labels) -> float:
    """Kolmogorov–Smirnov calibration error (Gupta et al. 2021).

    Sort by confidence; the largest gap between the cumulative accuracy and the
    cumulative confidence, both divided by n, taken only at the end of each group of tied
    confidences (SPEC §1), so the value does not depend on the order of tied inputs.
    """
    conf, correct = confidence_and_correct(probs, labels)
    order = np.argsort(conf, kind="stable")
    n = len(conf)
    gap = np.cumsum(correct[order]) / n - np.cumsum(conf[order]) / n
    c = conf[order]
    group_end = np.append(c[1:] != c[:-1], True)  # the last index of each run of equal confidences
    return float(np.abs(gap[group_end]).max())


def nll(probs, labels) -> float:
    """Mean negative log-likelihood of the true class."""
    p = _np(probs)
    y = _np(labels).astype(np.int64)
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())


def summary(probs, labels, n_bins: int = N_BINS) -> dict[str, float]:
    """Accuracy, NLL, ECE, MCE, KS and mean confidence in one dict."""
    conf, correct = confidence_and_correct(probs, labels)
    return {
        "accuracy": float(correct.mean()),
        "nll": nll(probs, labels),
        "ece": ece(probs, labels, n_bins),
        "mce": mce(probs, labels, n_bins),
        "ks": ks_error(probs, labels),
        "mean_confidence": float(conf.mean()),
    }
