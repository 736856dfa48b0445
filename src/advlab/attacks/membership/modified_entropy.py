"""Modified-entropy attack (Song & Mittal, USENIX Security 2021, "Systematic Evaluation of
Privacy Risks of Machine Learning Models", §3.2, Eq. (4)).

``Mentr(F(x), y) = −(1 − F(x)_y) log F(x)_y − Σ_{i≠y} F(x)_i log(1 − F(x)_i)``: it is low
when the model is confident and right (training examples) and high when it is confident
and wrong, unlike plain entropy which ignores the label. The score is ``−Mentr`` (higher =
more likely a member), threshold-free: ROC, AUC and TPR@FPR come from the score, as for
LOSS. The paper's class-dependent thresholds (fitted on shadow models) are not used: this
is the global-threshold form, so the attacker trains no model.

Numerics: float64 from logits; ``log F_i`` by log-softmax and ``log(1 − F_i)`` by
``log1p(−F_i)``, except for each example's most likely class, whose ``1 − F_i`` is the
sum of the other classes' probabilities, taken as a log-sum-exp so it stays finite (and
exact) when the model is certain.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ._common import labels_for, one_model, reduce_query
from .registry import register


def modified_entropy(logits, labels) -> np.ndarray:
    """``Mentr`` per ``(N, Q)`` for logits ``(N, K)`` or ``(N, Q, K)`` and labels ``(N,)``."""
    z = one_model(logits, "logits")
    y = labels_for(labels, z)
    lse = logsumexp(z, axis=-1, keepdims=True)
    log_p = z - lse
    p = np.exp(log_p)
    top = np.argmax(z, axis=-1)[..., None]
    rest = z.copy()
    np.put_along_axis(rest, top, -np.inf, axis=-1)
    log_1mp = np.log1p(-np.minimum(p, 0.5))  # exact below 1/2; only the top class can exceed it
    np.put_along_axis(log_1mp, top, logsumexp(rest, axis=-1, keepdims=True) - lse, axis=-1)
    at_y = np.broadcast_to(y[:, None, None], z.shape[:-1] + (1,))
    own = -np.exp(np.take_along_axis(log_1mp, at_y, -1)[..., 0]) * np.take_along_axis(log_p, at_y, -1)[..., 0]
    others = -np.where(np.arange(z.shape[-1]) == y[:, None, None], 0.0, p * log_1mp).sum(-1)
    return own + others


def modified_entropy_attack(target_logits, labels, *, query: int | None = 0) -> np.ndarray:
    """Score ``−Mentr(f(x), y)`` per example (Song & Mittal 2021); higher = more likely a member.

    ``query`` picks one query (0 = identity) or, when None, averages over queries.
    """
    return reduce_query(-modified_entropy(target_logits, labels), query)


def _run(inp) -> np.ndarray:
    return modified_entropy_attack(inp.target_logits, inp.labels, query=0)


register("modified_entropy", _run, signals=("target",))
