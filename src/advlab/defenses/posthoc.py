"""Post-hoc calibration defenses that keep every prediction (SPEC §3): temperature
scaling fitted on validation NLL, and Compression Scaling (Obadinma et al. 2024).

:data:`POSTHOC` names them (``calibration.targets.<t>.posthoc``): each entry is a factory
``f(model, x_val, y_val, batch_size) -> (module, extra)`` returning the module the attacker
queries and the fitted values worth reporting; :func:`defended` looks one up. A new
post-hoc defense is one registered factory here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from advlab.defenses._batching import batched, model_device
from advlab.errors import check
from advlab.models.estimators import Estimator, Softmax, TemperatureScaled
from advlab.registry import Registry

__all__ = [
    "fit_temperature",
    "calibrate_temperature",
    "CS_BANDS",
    "compression_targets",
    "solve_temperature",
    "compression_scale",
    "CompressionScaling",
    "POSTHOC",
    "defended",
]

POSTHOC = Registry("post-hoc defense")


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 100) -> float:
    """Temperature scaling (Guo et al. 2017, §4.2): ``T = argmin_T NLL(softmax(z/T), y)``
    on held-out validation logits. Optimised by L-BFGS over ``log T`` (so ``T > 0``
    without a constraint), in float64 from ``T = 1``. Returns ``T``.
    """
    z = logits.detach().double().cpu()
    y = labels.detach().long().cpu().reshape(-1)
    check(z.dim() == 2 and z.shape[0] == y.shape[0] and z.shape[0] > 0, f"logits {tuple(z.shape)} and labels {tuple(y.shape)}: need (n, K) and (n,) with n > 0")
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    check(math.isfinite(t) and t > 0, f"temperature fit diverged (T={t}); the validation logits may be degenerate")
    return t


def calibrate_temperature(model: nn.Module, x_val: torch.Tensor, y_val: torch.Tensor, batch_size: int = 512) -> TemperatureScaled:
    """Fit ``T`` on the model's validation logits and return the wrapped estimator."""
    model.eval()
    dev = model_device(model)
    logits = batched(lambda xb: model(xb.to(dev)).cpu(), x_val, batch_size)
    return TemperatureScaled(model, fit_temperature(logits, y_val))


# Compression Scaling's three equal confidence bins of [0, 1] and their target bands (SPEC §3).
CS_BANDS: tuple[tuple[float, float], ...] = ((0.8, 0.8667), (0.8667, 0.9333), (0.9333, 1.0))


def compression_targets(confidence: torch.Tensor, bands: Sequence[tuple[float, float]] = CS_BANDS) -> torch.Tensor:
    """Compression Scaling's target confidence (Obadinma et al. 2024; SPEC §3).

    ``[0, 1]`` is split into ``len(bands)`` equal bins; bin ``b`` is mapped linearly onto
    ``bands[b]`` (the last bin is closed at 1). The map is monotone non-decreasing. With the
    default bands it coincides with ``0.8 + 0.2·c`` up to the bands' 4-digit rounding.
    Differentiable in ``confidence``.
    """
    check(len(bands) >= 1 and all(0 < lo < hi <= 1 for lo, hi in bands), f"bands={bands!r}: each band must be (lo, hi) with 0 < lo < hi <= 1")
    nb = len(bands)
    lo = confidence.new_tensor([b[0] for b in bands])
    hi = confidence.new_tensor([b[1] for b in bands])
    b = (confidence.detach() * nb).floor().long().clamp(0, nb - 1)
    frac = confidence * nb - b.to(confidence.dtype)  # position within the bin, in [0, 1]
    return lo[b] + frac * (hi[b] - lo[b])


@torch.no_grad()
def solve_temperature(logits: torch.Tensor, target: torch.Tensor, iters: int = 80) -> torch.Tensor:
    """Per-sample temperature with ``max softmax(z/T) = target`` by vectorised bisection.

    Works on ``β = 1/T`` in float64: ``max softmax(βz)`` increases monotonically in ``β``
    (its log-derivative is ``z_max − E_p[z] ≥ 0``), equals ``1/K`` at ``β = 0``, and is at
    least ``t`` at ``β_hi = ln((K−1)t/(1−t)) / (z_(1) − z_(2))``, so ``[0, β_hi]`` brackets
    the root and bisection needs no per-sample loop. ``T`` may exceed 1. Targets are clipped
    to ``[1/K + 1e-9, 1 − 1e-9]``. A sample whose two top logits tie can never reach a
    target above 1/2; it keeps ``T = 1`` (left untouched, as in the reference code).
    """
    z = logits.detach().double()
    B, K = z.shape
    check(K >= 2, f"logits have K={K} classes; Compression Scaling needs K >= 2")
    t = target.detach().double().reshape(-1).clamp(1.0 / K + 1e-9, 1 - 1e-9)
    top2 = z.topk(2, dim=1).values
    gap = top2[:, 0] - top2[:, 1]
    reachable = gap > 1e-12
    lo = torch.zeros_like(t)
    hi = torch.where(reachable, torch.log((K - 1) * t / (1 - t)) / gap.clamp_min(1e-12), torch.ones_like(t))
    for _ in range(iters):
        mid = (lo + hi) / 2
        above = torch.softmax(mid[:, None] * z, dim=1).amax(dim=1) >= t
        hi = torch.where(above, mid, hi)
        lo = torch.where(above, lo, mid)
    beta = torch.where(reachable, (lo + hi) / 2, torch.ones_like(t))
    return (1.0 / beta).to(logits.dtype)


def compression_scale(logits: torch.Tensor, bands: Sequence[tuple[float, float]] = CS_BANDS) -> torch.Tensor:
    """Compression Scaling on logits: returns ``z / T(z)`` (same argmax, confidence = target).

    Differentiable for adaptive attacks: ``T`` comes from bisection, but its gradient is the
    implicit-function one. With ``F(β, z) = log max softmax(βz) − log t(z) = 0``,
    ``dβ/dz = −(∂F/∂z)/(∂F/∂β)`` and ``∂F/∂β = z_max − E_p[z]``; adding
    ``−(F − F.detach())/∂F/∂β`` to the detached root leaves its value and gives autograd
    exactly that derivative.
    """
    conf = torch.softmax(logits, dim=1).amax(dim=1)
    target = compression_targets(conf, bands)
    beta0 = 1.0 / solve_temperature(logits, target)
    if not logits.requires_grad:
        return logits * beta0[:, None]
    log_p = torch.log_softmax(beta0[:, None] * logits, dim=1)
    top = logits.detach().argmax(dim=1, keepdim=True)
    residual = log_p.gather(1, top).squeeze(1) - torch.log(target)
    with torch.no_grad():
        dF_dbeta = logits.gather(1, top).squeeze(1) - (log_p.exp() * logits).sum(dim=1)
        # Where the root is flat (saturated or tied logits) dβ/dz is unbounded: pass no gradient.
        safe = dF_dbeta > 1e-6
        inv = torch.where(safe, 1.0 / dF_dbeta.clamp_min(1e-6), torch.zeros_like(dF_dbeta))
    beta = beta0 - (residual - residual.detach()) * inv
    return logits * beta[:, None]


class CompressionScaling(Estimator):
    """A model defended by Compression Scaling (SPEC §3), usable as an attack target.

    ``forward(x)`` returns ``log_softmax(compression_scale(model(x)))``; gradients follow
    the implicit-function derivative of the per-sample temperature (see
    :func:`compression_scale`), so white-box attacks see the defense, not a broken gradient.
    """

    def __init__(self, model: nn.Module, bands: Sequence[tuple[float, float]] = CS_BANDS):
        super().__init__()
        compression_targets(torch.zeros(1), bands)  # validate the bands now, not at first use
        self.model = model
        self.bands = tuple(tuple(map(float, b)) for b in bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(compression_scale(self.model(x), self.bands), dim=1)


@POSTHOC.register("none")
def _none(model: nn.Module, x_val, y_val, batch_size: int):
    """No defense: the model's own softmax."""
    return Softmax(model), {}


@POSTHOC.register("temperature")
def _temperature(model: nn.Module, x_val, y_val, batch_size: int):
    """Temperature scaling fitted on the validation NLL; reports ``temperature``."""
    wrapped = calibrate_temperature(model, x_val, y_val, batch_size)
    return wrapped, {"temperature": float(wrapped.temperature)}


@POSTHOC.register("compression_scaling")
def _compression_scaling(model: nn.Module, x_val, y_val, batch_size: int):
    """Compression Scaling with the default bands (nothing fitted)."""
    return CompressionScaling(model), {}


def defended(model: nn.Module, posthoc: str, x_val: torch.Tensor, y_val: torch.Tensor,
             batch_size: int) -> tuple[nn.Module, dict]:
    """The module the attacker queries (the model behind the post-hoc defense ``posthoc``,
    a :data:`POSTHOC` name) and the defense's fitted values (e.g. ``{"temperature": T}``)."""
    return POSTHOC.get(posthoc)(model, x_val, y_val, batch_size)
