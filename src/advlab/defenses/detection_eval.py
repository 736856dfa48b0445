"""Detection AUROC of several detectors against several attacks, in one call (SPEC §2, and
§3's "detection of calibration attacks vs standard attacks").

:func:`evaluate_detectors` fits each detector once on clean data and scores the clean
inputs and every attack's adversarial inputs; the evasion family's ``evasion_detect``
stage calls it on standard attacks, and the calibration family can call it on its own
attacks unchanged (any dict of adversarial batches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from advlab.defenses.detectors import DETECTORS, detection_auroc, make_detector
from advlab.errors import check

__all__ = ["DETECTORS", "make_detector", "evaluate_detectors"]


def evaluate_detectors(model: nn.Module, x_fit: torch.Tensor, y_fit: torch.Tensor, x_clean: torch.Tensor,
                       adversarial: Mapping[str, torch.Tensor], detectors: Sequence[str] | None = None,
                       masks: Mapping[str, torch.Tensor] | None = None, **options) -> list[dict]:
    """Detection AUROC of every detector against every attack.

    ``x_fit, y_fit``: clean data the detectors learn from (keep it disjoint from
    ``x_clean``). ``x_clean``: the clean test inputs (negatives). ``adversarial``: attack
    name → adversarial inputs (positives). ``detectors``: names (default: every registered
    detector). ``masks``: attack name → bool mask of the
    adversarial rows to use (e.g. the successful ones); the negatives are always all of
    ``x_clean``. ``detectors``: :data:`DETECTORS` names (default: every one).
    ``options`` go to :func:`make_detector`.

    Returns one row per (detector, attack): ``detector``, ``attack``, ``auroc``,
    ``n_clean``, ``n_adv`` (AUROC is NaN when an attack has no adversarial rows).
    """
    check(len(x_clean) > 0, "x_clean is empty: detection needs clean negatives")
    rows = []
    for name in DETECTORS.names() if detectors is None else detectors:
        det = make_detector(name, **options).fit(model, x_fit, y_fit)
        clean = det.score(x_clean)
        for attack, xa in adversarial.items():
            if masks is not None and attack in masks:
                xa = xa[masks[attack].bool().to(xa.device)]
            auroc = detection_auroc(clean, det.score(xa)) if len(xa) else float("nan")
            rows.append({"detector": name, "attack": attack, "auroc": auroc,
                         "n_clean": len(x_clean), "n_adv": len(xa)})
    return rows
