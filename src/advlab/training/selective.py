"""The ``selectivenet`` training objective (Geifman & El-Yaniv 2019, SelectiveNet):
``α·(r̂(f,g) + λ·max(0, c₀ − φ̂(g))²) + (1 − α)·CE(h)`` via
:func:`advlab.models.estimators.selectivenet_loss`, on a zoo model of arch
``selectivenet`` (:mod:`advlab.models.archs.selectivenet`). ``coverage`` is the target coverage
``c₀``; the paper's λ = 32 and α = 0.5 are the defaults (SPEC §4).
"""

from __future__ import annotations

import math

from advlab.errors import AdvlabError
from advlab.models.estimators import selectivenet_loss
from advlab.training.objectives import TRAIN_OBJECTIVES, Objective


def _number(name: str, v, lo: float, hi: float, lo_open: bool) -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ok = ok and (v > lo if lo_open else v >= lo) and v <= hi
    if not ok:
        raise AdvlabError(f"selectivenet objective: {name}={v!r} must be in {'(' if lo_open else '['}{lo}, {hi}]")
    return float(v)


@TRAIN_OBJECTIVES.register("selectivenet")
def selectivenet(coverage: float = 0.8, lam: float = 32.0, alpha: float = 0.5) -> Objective:
    """SelectiveNet loss for target coverage ``coverage`` ∈ (0, 1]; checked here, before training."""
    from advlab.models.estimators import selective_estimator

    coverage = _number("coverage", coverage, 0.0, 1.0, True)
    lam = _number("lam", lam, 0.0, math.inf, False)
    alpha = _number("alpha", alpha, 0.0, 1.0, False)
    views: dict[int, object] = {}

    def loss(model, x, y):
        est = views.get(id(model))
        if est is None:  # a view sharing the model's heads; built once per model
            est = views[id(model)] = selective_estimator(model, "the model being trained")
        return selectivenet_loss(est.heads(x), y, coverage, lam, alpha)

    return loss
