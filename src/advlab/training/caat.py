"""CAAT: calibration-attack adversarial training (Obadinma et al. 2024, arXiv 2401.02718; SPEC §3).

Each batch is replaced by white-box underconfidence and overconfidence examples made on the
fly by the attack engine's label-preserving PGD (:func:`advlab.training.robust.adversarial_examples`,
itself the engine's :func:`advlab.attacks.whitebox.pgd`, with ŷ as the reference and only
label-keeping iterates accepted); the loss is
``CE(f(x_under), y) + CE(f(x_over), y) + λ·CE(f(x), y)`` with ``λ = clean_weight``
(default 0, as in the paper). Register name: ``caat``.
"""

from __future__ import annotations

import torch.nn.functional as F

from advlab.attacks.objectives import Overconfidence, Underconfidence
from advlab.errors import check
from advlab.training.objectives import TRAIN_OBJECTIVES
from advlab.training.robust import _check, _generator, adversarial_examples

__all__ = ["caat"]


@TRAIN_OBJECTIVES.register("caat")
def caat(eps: float = 0.05, steps: int = 5, alpha: float | None = None, norm: str = "linf",
         tau_u: float = 0.01, tau_o: float = 0.99, clean_weight: float = 0.0, seed: int = 0):
    """CAAT loss (see the module docstring); ``eps``/``steps``/``norm`` are the inner PGD's."""
    _check(eps, steps, norm, alpha)
    check(isinstance(clean_weight, (int, float)) and clean_weight >= 0,
          f"clean_weight={clean_weight!r}: the clean-loss weight λ must be >= 0")
    under, over = Underconfidence(tau_u), Overconfidence(tau_o)  # check the thresholds now

    def loss(model, x, y):
        x_under = adversarial_examples(model, x, y, under, eps, steps, norm, alpha, True, _generator(x, seed))
        x_over = adversarial_examples(model, x, y, over, eps, steps, norm, alpha, True, _generator(x, seed + 1))
        out = F.cross_entropy(model(x_under), y) + F.cross_entropy(model(x_over), y)
        if clean_weight:
            out = out + clean_weight * F.cross_entropy(model(x), y)
        return out

    return loss
