"""Adversarial-example detectors (SPEC §2, also run on calibration attacks in §3).

Common interface: ``det.fit(model, x_clean, y)`` learns from clean data and returns the
detector; ``det.score(x)`` returns ``(B,)`` scores, higher = more adversarial;
``det.set_threshold(x_clean, fpr)`` / ``det.detect(x)`` turn scores into decisions.
:func:`detection_auroc` reports the ROC AUC of clean (negative) vs adversarial (positive).

:data:`DETECTORS` names them (``evasion.detection.detectors``, ``calibration.detection.detectors``):
each entry is a factory taking the shared keyword options (``squeeze_bits``, ``median``,
``lid_k``, ``lid_reference``, ``seed``) and ignoring those it does not use;
:func:`make_detector` builds one. A new detector is a class plus one registered factory.

Models follow the zoo convention: ``model(x)`` logits on ``[0, 1]`` images,
``model.embed(x)`` penultimate features.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advlab.defenses._batching import batched, model_device
from advlab.defenses.transforms import BitDepthReduction, MedianFilter
from advlab.errors import check
from advlab.registry import Registry

__all__ = ["Detector", "FeatureSqueezingDetector", "MahalanobisDetector", "LIDDetector", "DETECTORS",
           "make_detector", "detection_auroc"]

DETECTORS = Registry("detector")


class Detector:
    """Base class of the detectors; subclasses implement ``fit`` and ``_score``."""

    batch_size: int = 512
    threshold_: float | None = None

    def fit(self, model: nn.Module, x_clean: torch.Tensor, y: torch.Tensor | None = None) -> Detector:
        raise NotImplementedError

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Detection scores ``(B,)`` (float64, CPU); higher = more likely adversarial."""
        check(getattr(self, "model", None) is not None, f"{type(self).__name__}.score called before fit(model, x_clean, y)")
        self.model.eval()
        dev = model_device(self.model)
        return batched(lambda xb: self._score(xb.to(dev)).double().cpu(), x, self.batch_size)

    def set_threshold(self, x_clean: torch.Tensor, fpr: float = 0.05) -> float:
        """Threshold at the ``(1 − fpr)`` quantile of clean scores (Xu et al. 2018 use 5 %);
        pass held-out clean data, not the data the detector was fitted on."""
        check(0 < fpr < 1, f"fpr={fpr!r}: the target false-positive rate must be in (0, 1)")
        self.threshold_ = float(np.quantile(self.score(x_clean).numpy(), 1 - fpr))
        return self.threshold_

    def detect(self, x: torch.Tensor) -> torch.Tensor:
        """Boolean flags ``score > threshold`` (call :meth:`set_threshold` first)."""
        check(self.threshold_ is not None, f"{type(self).__name__}.detect needs set_threshold(x_clean, fpr) first")
        return self.score(x) > self.threshold_


def _embed_fn(model: nn.Module):
    check(callable(getattr(model, "embed", None)), f"model {type(model).__name__} has no embed(x): feature detectors need penultimate features")
    return model.embed


class FeatureSqueezingDetector(Detector):
    """Feature squeezing (Xu et al. 2018, joint detection): for squeezers ``s_i``,
    ``score(x) = max_i ‖softmax(f(x)) − softmax(f(s_i(x)))‖₁``.

    Default squeezers: 5-bit depth reduction and a 2×2 median filter (the paper's CIFAR-10
    setting minus non-local means); for MNIST-like data the paper uses 1-bit depth.
    """

    def __init__(self, squeezers: Sequence[nn.Module] | None = None, batch_size: int = 512):
        self.squeezers = list(squeezers) if squeezers is not None else [BitDepthReduction(5), MedianFilter(2)]
        check(len(self.squeezers) >= 1, "squeezers: feature squeezing needs at least one squeezer")
        self.batch_size = batch_size
        self.model = None

    def fit(self, model: nn.Module, x_clean: torch.Tensor | None = None, y: torch.Tensor | None = None) -> FeatureSqueezingDetector:
        """Nothing to learn beyond the model; ``x_clean``, if given, sets a 5 %-FPR threshold."""
        self.model = model
        if x_clean is not None:
            self.set_threshold(x_clean)
        return self

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        p = F.softmax(self.model(x), dim=1)
        return torch.stack([(p - F.softmax(self.model(s(x)), dim=1)).abs().sum(dim=1) for s in self.squeezers]).amax(dim=0)


class MahalanobisDetector(Detector):
    """Mahalanobis detector (Lee et al. 2018, the confidence score M(x)), on the penultimate layer.

    ``fit``: class means ``μ_c`` of the features and ONE shared covariance
    ``Σ = (1/N) Σ_c Σ_{i: y_i = c} (φ_i − μ_c)(φ_i − μ_c)ᵀ`` (inverted by pseudo-inverse,
    as sklearn's EmpiricalCovariance in the reference code). The confidence score is
    ``M(x) = max_c −(φ − μ_c)ᵀ Σ⁻¹ (φ − μ_c)``; ``score = −M(x)``. With
    ``noise_magnitude = ε > 0`` the input is first preprocessed as in the paper,
    ``x̂ = x + ε·sign ∇ₓ M(x)``. The feature ensemble over layers and its logistic
    regression are not implemented (one layer, raw score).
    """

    def __init__(self, noise_magnitude: float = 0.0, batch_size: int = 512):
        check(noise_magnitude >= 0, f"noise_magnitude={noise_magnitude!r}: must be >= 0")
        self.noise_magnitude = noise_magnitude
        self.batch_size = batch_size
        self.model = None

    def fit(self, model: nn.Module, x_clean: torch.Tensor, y: torch.Tensor) -> MahalanobisDetector:
        embed = _embed_fn(model)
        model.eval()
        dev = model_device(model)
        feats = batched(lambda xb: embed(xb.to(dev)).cpu(), x_clean, self.batch_size).double()
        y = torch.as_tensor(y).long().cpu().reshape(-1)
        check(len(y) == len(feats), f"x_clean has {len(feats)} samples but y has {len(y)}")
        classes = torch.unique(y)
        means = torch.stack([feats[y == c].mean(dim=0) for c in classes])
        centred = feats - means[torch.searchsorted(classes, y)]
        cov = centred.T @ centred / len(feats)
        self.model = model
        self.classes_ = classes
        self.means_ = means.to(dev)
        self.precision_ = torch.linalg.pinv(cov, hermitian=True).to(dev)
        return self

    def _min_distance(self, feats: torch.Tensor) -> torch.Tensor:
        d = feats[:, None, :].to(self.means_.dtype) - self.means_[None]  # (B, C, D)
        return torch.einsum("bcd,de,bce->bc", d, self.precision_, d).amin(dim=1)

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        embed = self.model.embed
        if self.noise_magnitude > 0:
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                # M(x) = −min distance; ascend M, i.e. descend the distance.
                (grad,) = torch.autograd.grad(self._min_distance(embed(xg)).sum(), xg)
            x = x - self.noise_magnitude * grad.sign()
        return self._min_distance(embed(x))


class LIDDetector(Detector):
    """Local intrinsic dimensionality (Ma et al. 2018; the MLE estimator of Amsaleg et al. 2015):
    ``LID(x) = −((1/k) Σ_{i=1..k} log(r_i(x) / r_k(x)))⁻¹`` with ``r_i`` the distance from
    ``x``'s penultimate features to its i-th nearest neighbour in a reference batch of clean
    features. Adversarial regions have higher LID, so ``score = LID``.

    The paper draws the reference from each minibatch (100 samples, k = 20) and feeds the
    LIDs of every layer to a logistic regression trained on adversarial examples; we keep
    one fixed reference batch of ``reference_size`` clean samples (drawn with ``seed``)
    and return the raw penultimate-layer LID. Exact matches (distance 0, e.g. a point scored
    against a reference that contains it) are excluded from its neighbours.
    """

    def __init__(self, k: int = 20, reference_size: int = 1000, seed: int = 0, batch_size: int = 512):
        check(isinstance(k, int) and k >= 2, f"k={k!r}: LID needs an integer number of neighbours >= 2")
        check(isinstance(reference_size, int) and reference_size > k, f"reference_size={reference_size!r}: must be an integer > k={k}")
        self.k, self.reference_size, self.seed = k, reference_size, seed
        self.batch_size = batch_size
        self.model = None

    def fit(self, model: nn.Module, x_clean: torch.Tensor, y: torch.Tensor | None = None) -> LIDDetector:
        embed = _embed_fn(model)
        check(len(x_clean) > self.k, f"x_clean has {len(x_clean)} samples: LID needs more than k={self.k}")
        model.eval()
        dev = model_device(model)
        gen = torch.Generator().manual_seed(self.seed)
        idx = torch.randperm(len(x_clean), generator=gen)[: self.reference_size]
        self.model = model
        self.reference_ = batched(lambda xb: embed(xb.to(dev)), x_clean[idx], self.batch_size).double()
        return self

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        dist = torch.cdist(self.model.embed(x).double(), self.reference_)
        dist = torch.where(dist > 1e-12, dist, torch.full_like(dist, float("inf")))
        r = dist.topk(self.k, dim=1, largest=False).values  # ascending; r[:, -1] = r_k
        mean_log = torch.log(r / r[:, -1:]).mean(dim=1)
        return -1.0 / mean_log.clamp(max=-1e-12)


@DETECTORS.register("feature_squeezing")
def _feature_squeezing(*, squeeze_bits: int = 1, median: int = 2, **_) -> FeatureSqueezingDetector:
    """Bit depth ``squeeze_bits`` and a ``median × median`` filter (Xu et al. use 1 bit for MNIST)."""
    return FeatureSqueezingDetector([BitDepthReduction(squeeze_bits), MedianFilter(median)])


@DETECTORS.register("mahalanobis")
def _mahalanobis(**_) -> MahalanobisDetector:
    return MahalanobisDetector()


@DETECTORS.register("lid")
def _lid(*, lid_k: int = 20, lid_reference: int = 1000, seed: int = 0, **_) -> LIDDetector:
    return LIDDetector(k=lid_k, reference_size=lid_reference, seed=seed)


def make_detector(name: str, **options) -> Detector:
    """A detector by its :data:`DETECTORS` name, built from the shared options (see the module
    docstring); an option no detector takes is an error naming it."""
    factory = DETECTORS.get(name)
    known = {p.name for _, f in DETECTORS.items() for p in inspect.signature(f).parameters.values()
             if p.kind is p.KEYWORD_ONLY}
    unknown = sorted(set(options) - known)
    check(not unknown, f"detector option(s) {unknown} are unknown; known: {sorted(known)}")
    return factory(**options)


def detection_auroc(clean_scores, adv_scores) -> float:
    """ROC AUC of detection scores, clean = negative, adversarial = positive (sklearn)."""
    from advlab.metrics.roc import roc_auc

    c = np.asarray(torch.as_tensor(clean_scores).detach().cpu().double()).reshape(-1)
    a = np.asarray(torch.as_tensor(adv_scores).detach().cpu().double()).reshape(-1)
    check(c.size > 0 and a.size > 0, f"detection_auroc needs clean and adversarial scores, got {c.size} and {a.size}")
    return roc_auc(np.r_[c, a], np.r_[np.zeros(c.size, bool), np.ones(a.size, bool)], area="trapezoid_dropped")
