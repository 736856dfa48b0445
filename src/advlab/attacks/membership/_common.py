"""Shared numerics for the membership attacks: shapes, cross-entropy and LiRA's φ.

Every array of logits has a query axis: ``(N, Q, K)`` for one model, ``(M, N, Q, K)``
for several; ``(N, K)`` is accepted for one model and read as ``Q = 1``.
All arithmetic is float64 and goes through ``logsumexp`` so huge logits stay finite.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from advlab.errors import check


def one_model(logits, name: str) -> np.ndarray:
    """``(N, Q, K)`` float64 from ``(N, K)`` or ``(N, Q, K)``."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 2:
        z = z[:, None, :]
    check(z.ndim == 3, f"{name} must have shape (N, K) or (N, Q, K); got {z.shape}")
    check(z.shape[-1] >= 2, f"{name} needs K >= 2 classes; got K={z.shape[-1]}")
    check(np.isfinite(z).all(), f"{name} contains NaN or inf logits")
    return z


def many_models(logits, name: str) -> np.ndarray:
    """``(M, N, Q, K)`` float64 from ``(M, N, K)`` or ``(M, N, Q, K)``."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 3:
        z = z[:, :, None, :]
    check(z.ndim == 4, f"{name} must have shape (M, N, K) or (M, N, Q, K); got {z.shape}")
    check(z.shape[-1] >= 2, f"{name} needs K >= 2 classes; got K={z.shape[-1]}")
    check(np.isfinite(z).all(), f"{name} contains NaN or inf logits")
    return z


def labels_for(labels, z: np.ndarray, name: str = "labels") -> np.ndarray:
    """Check integer labels of length N = z.shape[-3] in [0, K)."""
    y = np.asarray(labels)
    n, k = z.shape[-3], z.shape[-1]
    check(y.shape == (n,) and np.issubdtype(y.dtype, np.integer),
          f"{name} must be an integer array of shape ({n},); got {y.dtype} {y.shape}")
    check(n == 0 or (y.min() >= 0 and y.max() < k), f"{name} must lie in [0, {k}); got [{y.min()}, {y.max()}]")
    return y.astype(np.int64)


def members_for(mask, n: int, name: str) -> np.ndarray:
    m = np.asarray(mask)
    check(m.shape == (n,) and m.dtype == np.bool_, f"{name} must be a bool array of shape ({n},); got {m.dtype} {m.shape}")
    check(m.any() and (~m).any(), f"{name} must contain both members (True) and non-members (False)")
    return m


def true_logit(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``z[..., i, q, y_i]`` for logits ``(..., N, Q, K)``."""
    idx = np.broadcast_to(y.reshape(-1, 1, 1), z.shape[:-1] + (1,))
    return np.take_along_axis(z, idx, axis=-1)[..., 0]


def cross_entropy(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``CE = logsumexp(z) − z_y`` per ``(..., N, Q)``."""
    return logsumexp(z, axis=-1) - true_logit(z, y)


def true_prob(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``p_y = softmax(z)_y`` per ``(..., N, Q)``."""
    return np.exp(-cross_entropy(z, y))


def lira_phi(logits, labels) -> np.ndarray:
    """LiRA's logit-scaled confidence (Carlini et al. 2022, §IV "logit scaling").

    ``φ = log p_y − log Σ_{y'≠y} p_{y'}``. The softmax normaliser cancels, so
    ``φ = z_y − logsumexp_{y'≠y} z_{y'}`` exactly; computed this way in float64 it
    is finite for any finite logits (the reference code's ``log(p + 1e-45)`` is not).
    ``logits`` is ``(..., N, Q, K)`` (or ``(N, K)``); returns ``(..., N, Q)``.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 2:
        z = z[:, None, :]
    check(z.shape[-1] >= 2, f"lira_phi needs K >= 2 classes; got K={z.shape[-1]}")
    y = labels_for(labels, z)
    zy = true_logit(z, y)
    others = z.copy()
    idx = np.broadcast_to(y.reshape(-1, 1, 1), z.shape[:-1] + (1,))
    np.put_along_axis(others, idx, -np.inf, axis=-1)
    return zy - logsumexp(others, axis=-1)


def reduce_query(per_query: np.ndarray, query: int | None, name: str = "query") -> np.ndarray:
    """Pick query ``query`` (an index) of ``(..., Q)``, or average over queries when None."""
    q = per_query.shape[-1]
    if query is None:
        return per_query.mean(-1)
    check(isinstance(query, (int, np.integer)) and -q <= query < q,
          f"{name} must be an int in [0, {q}) or None (average over queries); got {query!r}")
    return per_query[..., query]
