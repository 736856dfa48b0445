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

from advlab.defenses.detectors import (
    Detector,
    FeatureSqueezingDetector,
    LIDDetector,
    MahalanobisDetector,
    detection_auroc,
)
from advlab.defenses.transforms import BitDepthReduction, MedianFilter
from advlab.errors import check
from advlab.registry import Registry

__all__ = ["DETECTORS", "detector_names", "make_detector", "evaluate_detectors"]

#: detectors by name: ``build(*, squeeze_bits, median, lid_k, lid_reference, seed) -> Detector``;
#: metadata ``order`` (the default order of :func:`evaluate_detectors`)
DETECTORS = Registry("detector")


@DETECTORS.register("feature_squeezing", order=0)
def _feature_squeezing(squeeze_bits, median, **_):
    return FeatureSqueezingDetector([BitDepthReduction(squeeze_bits), MedianFilter(median)])


@DETECTORS.register("mahalanobis", order=1)
def _mahalanobis(**_):
    return MahalanobisDetector()


@DETECTORS.register("lid", order=2)
def _lid(lid_k, lid_reference, seed, **_):
    return LIDDetector(k=lid_k, reference_size=lid_reference, seed=seed)


def detector_names() -> list[str]:
    """The registered detectors in their default order."""
    return sorted(DETECTORS.names(), key=lambda n: DETECTORS.meta(n)["order"])


def make_detector(name: str, *, squeeze_bits: int = 1, median: int = 2, lid_k: int = 20,
                  lid_reference: int = 1000, seed: int = 0) -> Detector:
    """A detector by name: ``feature_squeezing`` (bit depth ``squeeze_bits`` and a
    ``median × median`` filter; Xu et al. use 1 bit for MNIST), ``mahalanobis``, ``lid``."""
    check(name in DETECTORS, f"detector {name!r} does not exist; allowed: {', '.join(detector_names())}")
    return DETECTORS.get(name)(squeeze_bits=squeeze_bits, median=median, lid_k=lid_k, lid_reference=lid_reference,
                               seed=seed)


def evaluate_detectors(model: nn.Module, x_fit: torch.Tensor, y_fit: torch.Tensor, x_clean: torch.Tensor,
                       adversarial: Mapping[str, torch.Tensor], detectors: Sequence[str] | None = None,
                       masks: Mapping[str, torch.Tensor] | None = None, **options) -> list[dict]:
    """Detection AUROC of every detector against every attack.

    ``x_fit, y_fit``: clean data the detectors learn from (keep it disjoint from
    ``x_clean``). ``x_clean``: the clean test inputs (negatives). ``adversarial``: attack
    name → adversarial inputs (positives). ``detectors``: names (default: every registered
    detector, in :func:`detector_names` order). ``masks``: attack name → bool mask of the
    adversarial rows to use (e.g. the successful ones); the negatives are always all of
    ``x_clean``. ``options`` go to :func:`make_detector`.

    Returns one row per (detector, attack): ``detector``, ``attack``, ``auroc``,
    ``n_clean``, ``n_adv`` (AUROC is NaN when an attack has no adversarial rows).
    """
    check(len(x_clean) > 0, "x_clean is empty: detection needs clean negatives")
    rows = []
    for name in detector_names() if detectors is None else detectors:
        det = make_detector(name, **options).fit(model, x_fit, y_fit)
        clean = det.score(x_clean)
        for attack, xa in adversarial.items():
            if masks is not None and attack in masks:
                xa = xa[masks[attack].bool().to(xa.device)]
            auroc = detection_auroc(clean, det.score(xa)) if len(xa) else float("nan")
            rows.append({"detector": name, "attack": attack, "auroc": auroc,
                         "n_clean": len(x_clean), "n_adv": len(xa)})
    return rows
