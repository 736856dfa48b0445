"""ACE: Attack on Confidence Estimation (Galil & El-Yaniv, NeurIPS 2021, "Disrupting Deep
Uncertainty Estimation Without Harming Accuracy"), the step-halving search of SPEC §4.

``g = ∇ₓ s(x)`` at the clean input with ``s(x) = κ(f(x))[ŷ]``; ``d = −1`` where ``ŷ = y``
and ``+1`` where ``ŷ ≠ y``; for ``i = 0…halvings−1``:
``x' = clip(x + ε·0.5^i·d·sign(g))``; the first ``x'`` whose prediction is still ``ŷ`` is
returned, else ``x``. All samples step together; a sample leaves the loop at its first
accepted ``x'``.

White-box: ``g`` from the target. Black-box: ``g`` from a proxy model the attacker
trained; the target only answers label queries, which are counted. The iterative
version is :func:`advlab.attacks.whitebox.pgd` with the ``ace`` objective.
"""

from __future__ import annotations

import torch

from advlab.attacks.constraints import label_kept
from advlab.attacks.gradient import Oracle, score_and_grad
from advlab.attacks.objectives import ACEDirection, State
from advlab.attacks.spec import AttackSpec, SearchContext, module, positive_int, register_attack


def ace(target: Oracle, objective: ACEDirection, x: torch.Tensor, s: State, eps: float, *,
        proxy: Oracle | None = None, halvings: int = 15, eot_samples: int = 1) -> torch.Tensor:
    """Step-halving ACE; see the module docstring. ``objective.score = d·s(x)``, so
    ``sign ∇ score = d·sign(g)``."""
    *_, grad = score_and_grad(proxy or target, objective, x, s, None, eot_samples)
    direction = grad.sign()
    x_adv = x.clone()
    active = torch.arange(len(x), device=x.device)
    for i in range(halvings):
        cand = (x[active] + eps * 0.5 ** i * direction[active]).clamp(0, 1)
        with torch.no_grad():
            if proxy is None:
                kept = label_kept(target(cand, active)[0], s["yhat"][active])
            else:  # black-box: labels only
                kept = target.labels(cand, active) == s["yhat"][active]
        x_adv[active[kept]] = cand[kept]
        active = active[~kept]
        if len(active) == 0:
            break
    return x_adv



@register_attack(AttackSpec("ace", "white-box or black-box (proxy)", {"proxy": None, "halvings": 15, "eot_samples": 1},
                            {"proxy": module("proxy", optional=True), "halvings": positive_int("halvings", 1),
                             "eot_samples": positive_int("eot_samples", 1)},
                            objectives=("ace",), doc="Galil & El-Yaniv 2021, step-halving"))
def _ace_search(c: SearchContext) -> torch.Tensor:
    proxy = None if c.p["proxy"] is None else Oracle(c.p["proxy"], len(c.x), c.x.device, c.objective.needs_kappa)
    return ace(c.oracle, c.objective, c.x, c.s, c.ball.eps, proxy=proxy, **c.pick("halvings", "eot_samples"))
