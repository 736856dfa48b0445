"""HopSkipJumpAttack, decision-based (labels only), untargeted L2 (Chen, Jordan &
Wainwright, IEEE S&P 2020, "HopSkipJumpAttack: A Query-Efficient Decision-Based
Attack", Algorithm 2 with the gradient-direction estimate of eq. 9/16 and the
geometric step-size search of §4.2).

Batched over samples: every stage (initialisation, binary search, Monte-Carlo gradient
estimate, step search) queries all unfinished samples at once. Queries are counted
per sample; a sample stops starting new iterations once it has spent ``max_queries``
(an iteration in progress is finished, so the budget can be overrun by one iteration).
The result is the adversarial point closest to the boundary; the engine reverts it to
``x`` if it lies outside the ε-ball.
"""

from __future__ import annotations

import math

import torch

from advlab.attacks.constraints import bcast, flat_norm
from advlab.attacks.gradient import Oracle
from advlab.attacks.spec import AttackSpec, SearchContext, positive, positive_int, register_attack


def _binary_search(oracle, x, x_adv, y, idx, threshold: float):
    """Blend ``(1−α)x + α·x_adv`` toward the boundary until ``α`` is known within ``threshold``."""
    lo = torch.zeros(len(x), device=x.device, dtype=x.dtype)
    hi = torch.ones_like(lo)
    while True:
        open_ = (hi - lo) > threshold
        if not open_.any():
            break
        j = open_.nonzero().squeeze(1)
        mid = (lo[j] + hi[j]) / 2
        blend = (1 - bcast(mid, x)) * x[j] + bcast(mid, x) * x_adv[j]
        adv = _query(oracle, blend, y[j], idx[j])
        hi[j] = torch.where(adv, mid, hi[j])
        lo[j] = torch.where(adv, lo[j], mid)
    return (1 - bcast(hi, x)) * x + bcast(hi, x) * x_adv


def _query(oracle: Oracle, xs, y, idx, k: int = 1):
    """Is each candidate misclassified? ``k`` candidates per sample, labels only."""
    return oracle.labels(xs, idx, k) != y.repeat_interleave(k)


@torch.no_grad()
def hop_skip_jump(oracle: Oracle, x: torch.Tensor, y: torch.Tensor, clean_pred: torch.Tensor, *, max_queries: int = 1000,
                  iterations: int = 40, init_evals: int = 100, max_evals: int = 1000, gamma: float = 1.0,
                  init_tries: int = 100, generator: torch.Generator | None = None) -> torch.Tensor:
    """Untargeted L2 HopSkipJump; see the module docstring."""
    n = len(x)
    d = x[0].numel()
    theta = gamma / (d * math.sqrt(d))  # binary-search precision for L2 (paper §4)
    x_adv = x.clone()
    clean_adv = clean_pred != y  # the engine's clean query already paid for this
    found = clean_adv.clone()
    # initialisation: uniform noise until misclassified (the paper's default)
    for _ in range(init_tries):
        j = (~found).nonzero().squeeze(1)
        if len(j) == 0:
            break
        r = torch.rand(x[j].shape, generator=generator, device=x.device, dtype=x.dtype)
        adv = _query(oracle, r, y[j], j)
        x_adv[j[adv]] = r[adv]
        found[j[adv]] = True
    act = (found & ~clean_adv).nonzero().squeeze(1)
    if len(act) == 0:
        return x_adv
    xb = _binary_search(oracle, x[act], x_adv[act], y[act], act, theta)
    x_adv[act] = xb
    dist = flat_norm(xb - x[act], "l2")
    dist_all = torch.zeros(n, device=x.device, dtype=x.dtype)
    dist_all[act] = dist

    for t in range(1, iterations + 1):
        act = act[oracle.queries[act] < max_queries]
        if len(act) == 0:
            break
        xa, xb, ya, dist = x[act], x_adv[act], y[act], dist_all[act]
        m = len(act)
        delta = torch.full_like(dist, 0.1) if t == 1 else math.sqrt(d) * theta * dist
        # Monte-Carlo estimate of the boundary normal (eq. 9, with the baseline of eq. 16)
        b = int(min(init_evals * math.sqrt(t), max_evals))
        u = torch.randn((m, b, *x.shape[1:]), generator=generator, device=x.device, dtype=x.dtype)
        u = u / flat_norm(u.flatten(0, 1), "l2").view(m, b, *([1] * (x.dim() - 1)))
        dl = delta.view(m, 1, *([1] * (x.dim() - 1)))
        pert = (xb[:, None] + dl * u).clamp(0, 1)
        phi = _query(oracle, pert.flatten(0, 1), ya, act, b).view(m, b).to(x.dtype) * 2 - 1
        u = (pert - xb[:, None]) / dl
        mean_phi = phi.mean(1, keepdim=True)
        mixed = (mean_phi.abs() < 1).to(x.dtype)  # baseline only when both outcomes occur
        w = (phi - mixed * mean_phi).view(m, b, *([1] * (x.dim() - 1)))
        grad = (w * u).mean(1)
        grad = grad / bcast(flat_norm(grad, "l2") + 1e-12, grad)
        # geometric step-size search: halve until the step lands on the adversarial side
        step = dist / math.sqrt(t)
        cand = xb.clone()
        pending = torch.arange(m, device=x.device)
        for _ in range(30):
            if len(pending) == 0:
                break
            c = (xb[pending] + bcast(step[pending], xb) * grad[pending]).clamp(0, 1)
            adv = _query(oracle, c, ya[pending], act[pending])
            cand[pending[adv]] = c[adv]
            step[pending[~adv]] /= 2
            pending = pending[~adv]
        xb = _binary_search(oracle, xa, cand, ya, act, theta)
        x_adv[act] = xb
        dist_all[act] = flat_norm(xb - xa, "l2")
    return x_adv


@register_attack(AttackSpec("hsja", "black-box (labels)",
                            {"max_queries": 1000, "iterations": 40, "init_evals": 100, "max_evals": 1000, "gamma": 1.0},
                            {"max_queries": positive_int("max_queries", 1), "iterations": positive_int("iterations", 1),
                             "init_evals": positive_int("init_evals", 1), "max_evals": positive_int("max_evals", 1),
                             "gamma": positive("gamma")},
                            norms=("l2",), objectives=("margin",), bounded=False, doc="Chen et al. 2020, HopSkipJump L2"))
def _hsja_search(c: SearchContext) -> torch.Tensor:
    return hop_skip_jump(c.oracle, c.x, c.y, c.logp0.argmax(1),
                         **c.pick("max_queries", "iterations", "init_evals", "max_evals", "gamma"), generator=c.gen)
