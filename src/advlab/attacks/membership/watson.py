"""Difficulty calibration (Watson et al., ICLR 2022, "On the Importance of Difficulty
Calibration in Membership Inference Attacks", §3: the calibrated score s(h, x) − s_ref(x)
applied to the loss score)."""

from __future__ import annotations

import numpy as np

from advlab.errors import check

from ._common import cross_entropy, labels_for, many_models, one_model, reduce_query
from .registry import register


def watson_attack(target_logits, reference_logits, labels, *, query: int | None = 0) -> np.ndarray:
    """Score ``−CE_target(x) + mean_r CE_ref_r(x)`` (Watson et al. 2022, calibrated loss).

    ``reference_logits``: ``(R, N, K)`` or ``(R, N, Q, K)`` of R ≥ 1 reference models
    trained without the target pool (the stage's plan guarantees it).
    """
    z = one_model(target_logits, "target_logits")
    r = many_models(reference_logits, "reference_logits")
    check(r.shape[0] >= 1, "watson_attack needs at least one reference model; got 0")
    check(r.shape[1:] == z.shape, f"reference_logits must match target_logits per model: {r.shape[1:]} vs {z.shape}")
    y = labels_for(labels, z)
    per_query = -cross_entropy(z, y) + cross_entropy(r, y).mean(0)
    return reduce_query(per_query, query)


def _run(inp) -> np.ndarray:
    return watson_attack(inp.target_logits, inp.references.logits, inp.labels, query=0)


register("watson", _run, signals=("target", "references"), models={"references": None}, order=30)
