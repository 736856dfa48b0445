"""Square Attack: score-based black-box random search (Andriushchenko, Croce, Flammarion &
Hein, ECCV 2020, "Square Attack: a query-efficient black-box adversarial attack via
random search", Algorithm 1 with the L∞ update of §3.1 and the L2 update of §3.2).

Driven by any objective: a candidate replaces the current iterate when it improves the
objective (or finishes it), and for label-preserving objectives only if the prediction
is still ``ŷ`` (SPEC §3 black-box calibration attacks).

Choices, documented as SPEC asks:
* the ``p`` schedule is the published one (halvings at iterations 10, 50, 200, 500,
  1000, 2000, 4000, 6000, 8000 of a 10 000-query budget), rescaled to ``n_queries``
  by default as in the authors' code;
* each sample draws its own square position, as in the authors' original code (the
  AutoAttack/torchattacks port shares one per step); all samples move in one batched step;
* queries include the clean query and the initialisation query; a sample stops as
  soon as its objective is done.
* for label-preserving objectives the stripe/tile initialisation is used only if it
  keeps the label and does not lower the objective; otherwise the search starts at
  the clean input.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from advlab.attacks.constraints import Ball, bcast, flat_norm, label_kept
from advlab.attacks.gradient import Oracle
from advlab.attacks.objectives import Objective, State, objective_names
from advlab.attacks.spec import AttackSpec, SearchContext, boolean, positive, positive_int, register_attack
from advlab.attacks.whitebox import subset

_SCHEDULE = ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64),
             (6000, 128), (8000, 256))


def p_selection(p_init: float, it: int, n_queries: int, rescale: bool = True) -> float:
    """Fraction of pixels a square covers at iteration ``it`` (Andriushchenko et al. 2020, §3)."""
    if rescale:
        it = int(it / n_queries * 10000)
    div = 512
    for bound, d in _SCHEDULE:
        if it <= bound:
            div = d
            break
    return p_init / div


@lru_cache(maxsize=64)
def _eta_rect(a: int, b: int) -> torch.Tensor:
    """Concentric-rectangle pattern with weights 1/(r+1)² (the authors' ``meta_pseudo_gaussian_pert``)."""
    d = torch.zeros(a, b)
    x_c, y_c = a // 2 + 1, b // 2 + 1
    c0, c1 = x_c - 1, y_c - 1
    for k in range(max(x_c, y_c)):
        d[max(c0, 0):min(c0 + 2 * k + 1, a), max(c1, 0):min(c1 + 2 * k + 1, b)] += 1.0 / (k + 1) ** 2
        c0, c1 = c0 - 1, c1 - 1
    return d / d.pow(2).sum().sqrt().clamp_min(1e-12)


@lru_cache(maxsize=64)
def eta(s: int) -> torch.Tensor:
    """The L2 square's pattern: two rectangles of opposite sign, unit L2 norm."""
    d = torch.zeros(s, s)
    d[: s // 2] = _eta_rect(s // 2, s)
    d[s // 2:] = -_eta_rect(s - s // 2, s)
    return d / d.pow(2).sum().sqrt()


def _signs(shape, gen, like) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=gen, device=like.device).to(like.dtype) * 2 - 1


def _positions(n, s, h, w, gen, device):
    vh = torch.randint(0, h - s + 1, (n,), generator=gen, device=device)
    vw = torch.randint(0, w - s + 1, (n,), generator=gen, device=device)
    return vh, vw


def _mask(vh, vw, s, h, w) -> torch.Tensor:
    """Per-sample square mask (n, 1, h, w) from per-sample corners."""
    r = torch.arange(h, device=vh.device)
    c = torch.arange(w, device=vh.device)
    mh = (r >= vh[:, None]) & (r < vh[:, None] + s)
    mw = (c >= vw[:, None]) & (c < vw[:, None] + s)
    return (mh[:, :, None] & mw[:, None, :])[:, None]


def _window_index(vh, vw, s):
    k = torch.arange(s, device=vh.device)
    b = torch.arange(len(vh), device=vh.device)[:, None, None]
    return b, (vh[:, None] + k)[:, :, None], (vw[:, None] + k)[:, None, :]


def _get(t, idx):
    b, r, c = idx
    return t[b, :, r, c].permute(0, 3, 1, 2)  # advanced indices go first: (n, s, s, C)


def _set(t, idx, v):
    b, r, c = idx
    t[b, :, r, c] = v.permute(0, 2, 3, 1)


def _init(x: torch.Tensor, ball: Ball, gen) -> torch.Tensor:
    n, c, h, w = x.shape
    if ball.norm == "linf":  # vertical stripes of ±ε (§3.1)
        return (x + ball.eps * _signs((n, c, 1, w), gen, x)).clamp(0, 1)
    # L2: a grid of η-patterns with random signs, rescaled to norm ε (§3.2)
    s0 = max(h // 5, 1)
    start = (h - s0 * 5) // 2
    delta = torch.zeros_like(x)
    pattern = eta(s0).to(x)
    for i in range(h // s0):
        for j in range(w // s0):
            vh, vw = start + i * s0, start + j * s0
            win = delta[:, :, vh:vh + s0, vw:vw + s0]
            win += pattern[: win.shape[2], : win.shape[3]] * _signs((n, c, 1, 1), gen, x)
    delta = delta / bcast(flat_norm(delta, "l2") + 1e-12, delta)
    return (x + ball.eps * delta).clamp(0, 1)


def _propose_linf(x, x_best, ball, p, gen):
    n, c, h, w = x.shape
    s = min(max(int(round(math.sqrt(p * h * w))), 1), h, w)
    vh, vw = _positions(n, s, h, w, gen, x.device)
    mask = _mask(vh, vw, s, h, w)
    sign = _signs((n, c, 1, 1), gen, x)
    cand = torch.where(mask, (x + ball.eps * sign).clamp(0, 1), x_best)
    # the authors resample the signs when a square would change nothing (it already sits
    # at that corner); flipping them is the vectorised equivalent and wastes no query
    # (computed for every sample and selected: asking whether any needs it would wait for the device)
    same = (cand == x_best).flatten(1).all(1)
    flipped = torch.where(mask, (x - ball.eps * sign).clamp(0, 1), x_best)
    return torch.where(bcast(same, x), flipped, cand)


def _propose_l2(x, x_best, ball, p, gen):
    n, c, h, w = x.shape
    s = max(int(round(math.sqrt(p * h * w))), 3)
    s = min(s + (s % 2 == 0), min(h, w) - (min(h, w) % 2 == 0))
    delta = x_best - x
    w1 = _positions(n, s, h, w, gen, x.device)
    w2 = _positions(n, s, h, w, gen, x.device)
    i1 = _window_index(*w1, s)
    old = _get(delta, i1)
    norm_w1 = old.pow(2).sum((2, 3), keepdim=True).sqrt()
    norm_img = bcast(flat_norm(delta, "l2"), delta)
    union = _mask(*w1, s, h, w) | _mask(*w2, s, h, w)
    norm_union = bcast(flat_norm(delta * union, "l2"), delta)
    # per-sample random transpose of the pattern, as the authors flip it with p = 1/2
    e = eta(s).to(x)
    flip = torch.rand(n, generator=gen, device=x.device) < 0.5
    pattern = torch.where(flip[:, None, None, None], e.t(), e)
    new = pattern * _signs((n, c, 1, 1), gen, x) + old / (norm_w1 + 1e-12)
    budget = ((ball.eps ** 2 - norm_img ** 2).clamp_min(0) / c + norm_union ** 2).sqrt()
    new = new / (new.pow(2).sum((2, 3), keepdim=True).sqrt() + 1e-12) * budget
    delta = delta.clone()
    _set(delta, _window_index(*w2, s), torch.zeros_like(new))
    _set(delta, i1, new)
    delta = delta / bcast(flat_norm(delta, "l2") + 1e-12, delta)
    return (x + ball.eps * delta).clamp(0, 1)


@torch.no_grad()
def square(oracle: Oracle, objective: Objective, x: torch.Tensor, s: State, ball: Ball, *,
           n_queries: int = 1000, p_init: float = 0.8, rescale_schedule: bool = True,
           generator: torch.Generator | None = None, logp_clean=None, kappa_clean=None) -> torch.Tensor:
    """Square Attack random search on any objective; see the module docstring."""
    lp = objective.label_preserving
    x_best = _init(x, ball, generator)
    logp, kappa = oracle(x_best)
    score = objective.score(logp, kappa, s)
    ok = label_kept(logp, s["yhat"]) if lp else torch.ones_like(score, dtype=torch.bool)
    clean_score = objective.score(logp_clean, kappa_clean, s)
    if lp:  # fall back to the clean input where the initialisation breaks the invariant
        ok &= score >= clean_score
        x_best = torch.where(bcast(ok, x), x_best, x)
        logp = torch.where(ok[:, None], logp, logp_clean)
        kappa = None if kappa is None else torch.where(ok, kappa, kappa_clean)
        score = torch.where(ok, score, clean_score)
    best = score
    done = objective.done(logp, kappa, s)
    if lp:
        done &= label_kept(logp, s["yhat"])
    propose = _propose_linf if ball.norm == "linf" else _propose_l2

    for it in range(n_queries):
        active = (~done).nonzero().squeeze(1)
        if len(active) == 0:
            break
        xa, sa = x[active], subset(s, active)
        p = p_selection(p_init, it, n_queries, rescale_schedule)
        cand = propose(xa, x_best[active], ball, p, generator)
        logp, kappa = oracle(cand, active)
        score = objective.score(logp, kappa, sa)
        ok = label_kept(logp, sa["yhat"]) if lp else torch.ones_like(score, dtype=torch.bool)
        fin = objective.done(logp, kappa, sa) & ok
        better = ok & ((score > best[active]) | fin)
        x_best[active] = torch.where(bcast(better, cand), cand, x_best[active])  # no boolean-mask sync
        best[active] = torch.where(better, score, best[active])
        done[active] = done[active] | fin
    return x_best


@register_attack(AttackSpec("square", "black-box (scores)", {"n_queries": 1000, "p_init": 0.8, "rescale_schedule": True},
                            {"n_queries": positive_int("n_queries", 1), "p_init": positive("p_init", 1.0),
                             "rescale_schedule": boolean("rescale_schedule")},
                            objectives=("margin", "ce", *objective_names("calibration"), *objective_names("ace")),
                            doc="Andriushchenko et al. 2020"))
def _square_search(c: SearchContext) -> torch.Tensor:
    return square(c.oracle, c.objective, c.x, c.s, c.ball, **c.pick("n_queries", "p_init", "rescale_schedule"),
                  generator=c.gen, logp_clean=c.logp0, kappa_clean=c.kappa0)
