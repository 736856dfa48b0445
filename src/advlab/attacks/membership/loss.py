"""LOSS attack (Yeom et al., CSF 2018, "Privacy Risk in Machine Learning", §3 threshold adversary)."""

from __future__ import annotations

import numpy as np

from ._common import cross_entropy, labels_for, one_model, reduce_query
from .registry import register


def loss_attack(target_logits, labels, *, query: int | None = 0) -> np.ndarray:
    """Score ``−CE(f(x), y)`` per example (Yeom et al. 2018); higher = more likely a member.

    ``target_logits``: ``(N, K)`` or ``(N, Q, K)``; ``query`` picks one query
    (0 = identity) or, when None, averages the score over queries.
    """
    z = one_model(target_logits, "target_logits")
    y = labels_for(labels, z)
    return reduce_query(-cross_entropy(z, y), query)


def _run(inp) -> np.ndarray:
    return loss_attack(inp.target_logits, inp.labels, query=0)


register("loss", _run, signals=("target",), order=10)
