"""Constraints: the Lp ball around the clean input, the image box ``[0, 1]``, and the
"prediction stays ŷ" acceptance test of calibration and uncertainty attacks.

Projection and random start follow Madry et al. 2018 ("Towards Deep Learning Models
Resistant to Adversarial Attacks", PGD, eq. 2) for L∞ and L2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from advlab.attacks.objectives import best_other, pick

NORMS = ("linf", "l2")

# A candidate is accepted as "label kept" only if ŷ leads the runner-up by this much in
# log-probability. Without the slack, a candidate accepted when evaluated in a
# sub-batch could flip when the same input is re-evaluated in a batch of another size
# (BLAS kernels differ in the last float bits), and the invariant must be exact.
LABEL_MARGIN = 1e-4


def bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def flat_norm(t: torch.Tensor, norm: str) -> torch.Tensor:
    f = t.flatten(1)
    return f.abs().amax(1) if norm == "linf" else f.norm(dim=1)


@dataclass(frozen=True)
class Ball:
    """The set ``{x' : ||x' − x||_p ≤ eps} ∩ [0, 1]^d``."""

    norm: str
    eps: float

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Euclidean projection onto the ball, then clipping to ``[0, 1]``.

        For L2 the clip after the radial projection can only shrink the norm, so the
        result stays in both sets.
        """
        delta = x_adv - x
        if self.norm == "linf":
            delta = delta.clamp(-self.eps, self.eps)
        else:
            n = flat_norm(delta, "l2")
            delta = delta * bcast((self.eps / (n + 1e-12)).clamp(max=1.0), delta)
        return (x + delta).clamp(0.0, 1.0)

    def random_start(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Uniform point of the L∞ ball, or for L2 a uniform direction at radius ``eps·U(0,1)``
        (the torchattacks / Madry convention)."""
        if self.norm == "linf":
            u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return (x + (2 * u - 1) * self.eps).clamp(0.0, 1.0)
        g = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        g = g / bcast(flat_norm(g, "l2") + 1e-12, g)
        r = torch.rand(len(x), generator=generator, device=x.device, dtype=x.dtype)
        return self.project(x + g * bcast(r * self.eps, g), x)

    def steepest(self, grad: torch.Tensor) -> torch.Tensor:
        """Steepest-ascent direction of unit norm: ``sign(g)`` for L∞, ``g/||g||₂`` for L2."""
        if self.norm == "linf":
            return grad.sign()
        return grad / bcast(flat_norm(grad, "l2") + 1e-12, grad)


def label_kept(logp: torch.Tensor, yhat: torch.Tensor, margin: float = LABEL_MARGIN) -> torch.Tensor:
    """The acceptance test of SPEC §3/§4: ``argmax f(x') == ŷ(x)``, with a float-safety slack."""
    return pick(logp, yhat) - best_other(logp, yhat) > margin
