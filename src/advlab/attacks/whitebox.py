"""Gradient searches: FGSM, PGD (standard and label-preserving), Carlini–Wagner L2, transfer.

Every search takes an :class:`~advlab.attacks.gradient.Oracle`, an objective with its
prepared per-sample state ``s``, and the clean batch, works on the whole batch at once
(only the samples not yet done are forwarded), and returns ``x_adv``.
"""

from __future__ import annotations

import torch

from advlab.attacks.constraints import Ball, bcast, label_kept
from advlab.attacks.gradient import Oracle, score_and_grad
from advlab.attacks.objectives import Objective, State, best_other, pick
from advlab.attacks.spec import (AttackSpec, SearchContext, boolean, module, nonnegative, positive, positive_int,
                                 register_attack)


def subset(s: State, idx) -> State:
    return {k: v[idx] for k, v in s.items()}


def fgsm(oracle: Oracle, objective: Objective, x: torch.Tensor, s: State, ball: Ball,
         eot_samples: int = 1) -> torch.Tensor:
    """Fast Gradient Sign Method, Goodfellow et al. 2015: ``x' = clip(x + ε·sign ∇ₓ L)``.

    With an L2 ball the step is ``ε·∇/||∇||₂`` (fast gradient method).
    """
    *_, grad = score_and_grad(oracle, objective, x, s, None, eot_samples)
    return ball.project(x + ball.eps * ball.steepest(grad), x)


def pgd(oracle: Oracle, objective: Objective, x: torch.Tensor, s: State, ball: Ball, *,
        steps: int = 10, alpha: float | None = None, restarts: int = 1, random_start: bool = True,
        eot_samples: int = 1, generator: torch.Generator | None = None,
        logp_clean: torch.Tensor | None = None, kappa_clean=None) -> torch.Tensor:
    """Projected gradient ascent on any objective (Madry et al. 2018, eq. 2).

    ``x_{t+1} = Π_{B(x,ε)∩[0,1]}(x_t + α·dir(∇ₓ L(x_t)))`` with ``dir = sign`` (L∞) or
    ``∇/||∇||₂`` (L2), ``T = steps`` updates from a random start, ``restarts`` runs;
    the best iterate per sample is kept (a sample stops as soon as its objective is done).
    ``alpha`` defaults to ``2.5·ε/steps`` (Madry et al.).

    Label-preserving objectives (SPEC §3 white-box calibration attacks, SPEC §4
    iterative ACE): an iterate is accepted only if the prediction is still ``ŷ``; the
    best accepted iterate is kept. A rejected sample goes back to its best accepted
    iterate and halves its own step (our choice: retrying the same step from the same
    point would be rejected forever).
    """
    lp = objective.label_preserving
    alpha = 2.5 * ball.eps / steps if alpha is None else alpha
    x_best = x.clone()
    # the clean input is the fallback: for label-preserving attacks it is always acceptable
    if lp:
        logp0, kappa0, best, g_best = score_and_grad(oracle, objective, x, s, None, eot_samples)
    else:
        logp0, kappa0 = logp_clean, kappa_clean
        best, g_best = objective.score(logp0, kappa0, s), None
    done = objective.done(logp0, kappa0, s)
    if lp:
        done &= label_kept(logp0, s["yhat"])

    for _ in range(restarts):
        active = (~done).nonzero().squeeze(1)
        if len(active) == 0:
            break
        xa, sa = x[active], subset(s, active)
        x_cur = ball.random_start(xa, generator) if random_start else xa.clone()
        step = torch.full((len(active),), float(alpha), device=x.device, dtype=x.dtype)
        for t in range(steps + 1):
            last = t == steps
            if last:  # the final iterate only needs to be scored
                with torch.no_grad():
                    logp, kappa = _mean_forward(oracle, x_cur, active, eot_samples)
                score, grad = objective.score(logp, kappa, sa), None
            else:
                logp, kappa, score, grad = score_and_grad(oracle, objective, x_cur, sa, active, eot_samples)
            ok = label_kept(logp, sa["yhat"]) if lp else torch.ones_like(score, dtype=torch.bool)
            fin = objective.done(logp, kappa, sa) & ok
            better = ok & ((score > best[active]) | fin)
            # selections at the active rows, not boolean-mask writes: no device-to-host sync
            x_best[active] = torch.where(bcast(better, x_cur), x_cur, x_best[active])
            best[active] = torch.where(better, score, best[active])
            if lp and grad is not None:
                g_best[active] = torch.where(bcast(better, grad), grad, g_best[active])
            done[active] = done[active] | fin
            if last:
                break
            if lp:  # rejected samples restart from their best accepted iterate with half the step
                bad = ~ok
                step = torch.where(bad, step / 2, step)
                x_from = torch.where(bcast(bad, x_cur), x_best[active], x_cur)
                grad = torch.where(bcast(bad, grad), g_best[active], grad)
            else:
                x_from = x_cur
            x_next = ball.project(x_from + bcast(step, x_cur) * ball.steepest(grad), xa)
            keep = ~fin
            if not keep.all():
                active, xa, sa, step, x_next = active[keep], xa[keep], subset(sa, keep), step[keep], x_next[keep]
                if len(active) == 0:
                    break
            x_cur = x_next
    return x_best


def _mean_forward(oracle: Oracle, x, idx, eot_samples: int):
    """Forward pass averaged over EOT draws (mean probabilities)."""
    if eot_samples == 1:
        return oracle(x, idx)
    probs, kappas, kappa = 0.0, 0.0, None
    for _ in range(eot_samples):
        logp, kappa = oracle(x, idx)
        probs = probs + logp.exp()
        kappas = kappas + (kappa if kappa is not None else 0.0)
    return (probs / eot_samples).clamp_min(1e-30).log(), (kappas / eot_samples if kappa is not None else None)


def cw_l2(oracle: Oracle, x: torch.Tensor, y: torch.Tensor, *, c: float = 1.0, confidence: float = 0.0,
          steps: int = 100, lr: float = 0.01, binary_steps: int = 5) -> torch.Tensor:
    """Carlini & Wagner 2017 L2 attack ("Towards Evaluating the Robustness of Neural
    Networks", §V, objective f6 with the tanh change of variables).

    ``x' = (tanh w + 1)/2``; minimise ``||x' − x||₂² + c·max(z_y − max_{k≠y} z_k, −κ)`` with
    Adam; a per-sample binary search on ``c`` (×10 until the first success, then
    bisection). Returns the smallest-L2 misclassified iterate per sample (``x`` if none).
    """
    n = len(x)
    w0 = torch.atanh((2 * x - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    const = torch.full((n,), float(c), device=x.device)
    lo, hi = torch.zeros_like(const), torch.full_like(const, float("inf"))
    best_l2 = torch.full_like(const, float("inf"))
    x_best = x.clone()
    for _ in range(binary_steps):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        for _ in range(steps):
            with torch.enable_grad():
                xa = (torch.tanh(w) + 1) / 2
                logp, _ = oracle(xa)
                f = (pick(logp, y) - best_other(logp, y)).clamp(min=-confidence)
                l2sq = (xa - x).flatten(1).pow(2).sum(1)
                opt.zero_grad()
                (l2sq + const * f).sum().backward()
            opt.step()
            with torch.no_grad():
                adv = (logp.argmax(1) != y) & (f <= -confidence)
                better = adv & (l2sq.sqrt() < best_l2)
                best_l2 = torch.where(better, l2sq.sqrt(), best_l2)
                x_best = torch.where(bcast(better, x_best), xa.detach(), x_best)
                found |= adv
        hi = torch.where(found, torch.minimum(hi, const), hi)
        lo = torch.where(found, lo, torch.maximum(lo, const))
        const = torch.where(hi < float("inf"), (lo + hi) / 2, const * 10)
    return x_best


def transfer(target: Oracle, surrogate: Oracle, objective: Objective, x: torch.Tensor, s: State,
             ball: Ball, **pgd_params) -> torch.Tensor:
    """Transfer attack (gray-box, SPEC §2): PGD on the attacker's surrogate, evaluated on the
    target. Only the target's queries are counted: the clean query and one for ``x_adv``."""
    with torch.no_grad():
        logp_s, kappa_s = surrogate(x)
    x_adv = pgd(surrogate, objective, x, s, ball, logp_clean=logp_s, kappa_clean=kappa_s, **pgd_params)
    target.count(None)
    return x_adv



# --- registration: one spec per search, carrying its search function -------------------------

PGD_DEFAULTS = {"steps": 10, "alpha": None, "restarts": 1, "random_start": True, "eot_samples": 1}
PGD_VALIDATORS = {"steps": positive_int("steps", 1), "alpha": lambda v: v is None or positive("alpha")(v),
                  "restarts": positive_int("restarts", 1), "random_start": boolean("random_start"),
                  "eot_samples": positive_int("eot_samples", 1)}


@register_attack(AttackSpec("fgsm", "white-box", {"eot_samples": 1}, {"eot_samples": positive_int("eot_samples", 1)},
                            doc="Goodfellow et al. 2015"))
def _fgsm_search(c: SearchContext) -> torch.Tensor:
    return fgsm(c.oracle, c.objective, c.x, c.s, c.ball, eot_samples=c.p["eot_samples"])


@register_attack(AttackSpec("pgd", "white-box", dict(PGD_DEFAULTS), dict(PGD_VALIDATORS),
                            doc="Madry et al. 2018; label-preserving with calibration/ACE objectives"))
def _pgd_search(c: SearchContext) -> torch.Tensor:
    return pgd(c.oracle, c.objective, c.x, c.s, c.ball, generator=c.gen, logp_clean=c.logp0, kappa_clean=c.kappa0,
               **c.pick(*PGD_DEFAULTS))


@register_attack(AttackSpec("cw", "white-box", {"c": 1.0, "confidence": 0.0, "steps": 100, "lr": 0.01, "binary_steps": 5},
                            {"c": positive("c"), "confidence": nonnegative("confidence"),
                             "steps": positive_int("steps", 1), "lr": positive("lr"),
                             "binary_steps": positive_int("binary_steps", 1)},
                            norms=("l2",), objectives=("margin",), bounded=False, doc="Carlini & Wagner 2017, L2"))
def _cw_search(c: SearchContext) -> torch.Tensor:
    return cw_l2(c.oracle, c.x, c.y, **c.pick("c", "confidence", "steps", "lr", "binary_steps"))


@register_attack(AttackSpec("transfer", "gray-box (surrogate)", {"surrogate": None, **PGD_DEFAULTS},
                            {"surrogate": module("surrogate"), **PGD_VALIDATORS},
                            doc="PGD on a surrogate, evaluated on the target"))
def _transfer_search(c: SearchContext) -> torch.Tensor:
    surrogate = Oracle(c.p["surrogate"], len(c.x), c.x.device, c.objective.needs_kappa)
    return transfer(c.oracle, surrogate, c.objective, c.x, c.s, c.ball, generator=c.gen, **c.pick(*PGD_DEFAULTS))
