"""APGD (Auto-PGD): Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness
with an ensemble of diverse parameter-free attacks", Algorithm 1, L∞ and L2.

* start: a random point on the boundary of the ε-ball (``ε·t/||t||_p``, ``t`` uniform in
  ``[-1, 1]^d`` for L∞, Gaussian for L2, as the authors' code), clipped to ``[0, 1]``;
* step size ``η = 2ε``; momentum ``α = 0.75`` (the first step has none):
  ``z = P(x_k + η·dir(∇f(x_k)))``, ``x_{k+1} = P(x_k + α(z − x_k) + (1 − α)(x_k − x_{k−1}))``;
* checkpoints ``w_j = ⌈p_j·N⌉`` with ``p_0 = 0``, ``p_1 = 0.22``,
  ``p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)`` (integer steps as the authors' code:
  intervals ``int(0.22N)``, then ``int(0.03N)`` shorter each, at least ``int(0.06N)``);
* at a checkpoint a sample halves its own ``η`` and restarts from its best point (and that
  point's gradient) when (1) the loss increased in at most ``ρ·(w_j − w_{j−1})`` of the steps
  since the last checkpoint (``ρ = 0.75``; ``≤`` as the authors' code), or (2) ``η`` was not
  halved at the last checkpoint and the best loss has not improved since;
* ``restarts`` runs, each on the samples still not done; a sample leaves the batch as soon
  as its objective is done (misclassified), keeping that iterate; the others return their
  highest-objective iterate over all runs.

With a targeted objective (``dlr_targeted``) this is APGD-T: ``restarts`` runs for each of the
``min(n_target_classes, K − 1)`` most likely other classes of the clean output, each on
the samples still robust. Queries: one forward/backward per iterate and sample.
"""

from __future__ import annotations

import torch

from advlab.attacks.constraints import Ball, bcast, flat_norm
from advlab.attacks.gradient import Oracle, score_and_grad
from advlab.attacks.objectives import Objective, State, objective_names
from advlab.attacks.spec import AttackSpec, SearchContext, positive, positive_int, register_attack
from advlab.attacks.whitebox import subset

MOMENTUM = 0.75


def checkpoints(steps: int) -> list[int]:
    """Iterations after which the step-size condition is checked (the published schedule)."""
    k, dec, k_min = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    out, w = [], k
    while w <= steps:
        out.append(w)
        k = max(k - dec, k_min)
        w += k
    return out


def _start(x: torch.Tensor, ball: Ball, gen) -> torch.Tensor:
    if ball.norm == "linf":
        t = 2 * torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) - 1
    else:
        t = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    t = t / bcast(flat_norm(t, ball.norm) + 1e-12, t)
    return (x + ball.eps * t).clamp(0.0, 1.0)


def _step(ball: Ball, x, x_cur, x_old, grad, eta, a: float) -> torch.Tensor:
    z = ball.project(x_cur + bcast(eta, x_cur) * ball.steepest(grad), x)
    return ball.project(x_cur + a * (z - x_cur) + (1 - a) * (x_cur - x_old), x)


def _run(oracle: Oracle, objective: Objective, x, s: State, idx, ball: Ball, steps: int, rho: float, gen,
         x_out, best_out, done) -> None:
    """One APGD run on rows ``idx``; writes successes and better fallbacks into ``x_out``."""
    xa = x[idx]
    x_cur = _start(xa, ball, gen)
    logp, kappa, score, grad = score_and_grad(oracle, objective, x_cur, s, idx)
    st = {"idx": idx, "x": xa, "x_cur": x_cur, "x_old": x_cur, "grad": grad, "x_best": x_cur, "g_best": grad,
          "best": score, "prev": score, "best_last": score, "incr": torch.zeros_like(score),
          "eta": torch.full_like(score, 2 * ball.eps), "reduced_last": torch.ones_like(score, dtype=torch.bool)}
    fin = objective.done(logp, kappa, s)
    marks, last_mark = set(checkpoints(steps)), 0
    for i in range(steps + 1):
        rows = st["idx"]
        x_out[rows] = torch.where(bcast(fin, st["x_cur"]), st["x_cur"], x_out[rows])
        done[rows] = done[rows] | fin
        if i == steps or bool(fin.all()):
            break
        if bool(fin.any()):  # finished samples leave the batch
            keep = ~fin
            st = {k: v[keep] for k, v in st.items()}
            s = subset(s, keep)
        a = 1.0 if i == 0 else MOMENTUM
        x_new = _step(ball, st["x"], st["x_cur"], st["x_old"], st["grad"], st["eta"], a)
        st["x_old"], st["x_cur"] = st["x_cur"], x_new
        logp, kappa, score, st["grad"] = score_and_grad(oracle, objective, x_new, s, st["idx"])
        fin = objective.done(logp, kappa, s)
        st["incr"] = st["incr"] + (score > st["prev"]).to(score.dtype)
        st["prev"] = score
        better = score > st["best"]
        st["x_best"] = torch.where(bcast(better, x_new), x_new, st["x_best"])
        st["g_best"] = torch.where(bcast(better, x_new), st["grad"], st["g_best"])
        st["best"] = torch.where(better, score, st["best"])
        if i + 1 in marks:
            length, last_mark = i + 1 - last_mark, i + 1
            reduce = (st["incr"] <= rho * length) | (~st["reduced_last"] & (st["best_last"] >= st["best"]))
            st["reduced_last"], st["best_last"] = reduce, st["best"]
            st["eta"] = torch.where(reduce, st["eta"] / 2, st["eta"])
            # restart from the best point; a finishing sample keeps the iterate that finished it
            back = reduce & ~fin
            st["x_cur"] = torch.where(bcast(back, x_new), st["x_best"], x_new)
            st["grad"] = torch.where(bcast(back, x_new), st["g_best"], st["grad"])
            st["prev"] = torch.where(back, st["best"], st["prev"])
            st["incr"] = torch.zeros_like(st["incr"])
    # samples never done: keep the run's best point where it beats the earlier runs'
    rows = st["idx"]
    left = ~done[rows]
    better = left & (st["best"] > best_out[rows])
    x_out[rows] = torch.where(bcast(better, st["x_best"]), st["x_best"], x_out[rows])
    best_out[rows] = torch.where(better, st["best"], best_out[rows])


def apgd(oracle: Oracle, objective: Objective, x: torch.Tensor, s: State, ball: Ball, *, steps: int = 100,
         restarts: int = 1, rho: float = 0.75, n_target_classes: int = 9, generator: torch.Generator | None = None,
         logp_clean: torch.Tensor | None = None, kappa_clean=None) -> torch.Tensor:
    """APGD (or APGD-T with a targeted objective) on any misclassification objective; see the
    module docstring. Samples already done on the clean input are returned unchanged."""
    if logp_clean is None:
        with torch.no_grad():
            logp_clean, kappa_clean = oracle(x)
    done = objective.done(logp_clean, kappa_clean, s).clone()
    x_out = x.clone()
    best_out = torch.full((len(x),), float("-inf"), device=x.device, dtype=x.dtype)
    ranks = range(1, min(n_target_classes, logp_clean.shape[1] - 1) + 1) if objective.targeted else [None]
    for r in ranks:
        for _ in range(restarts):
            idx = (~done).nonzero().squeeze(1)
            if len(idx) == 0:
                return x_out
            si = subset(s, idx)
            if r is not None:
                si["target"] = si["ranked"][:, r]
            _run(oracle, objective, x, si, idx, ball, steps, rho, generator, x_out, best_out, done)
    return x_out


APGD_DEFAULTS = {"steps": 100, "restarts": 1, "rho": 0.75, "n_target_classes": 9}
APGD_VALIDATORS = {"steps": positive_int("steps", 1), "restarts": positive_int("restarts", 1),
                   "rho": positive("rho", 1.0), "n_target_classes": positive_int("n_target_classes", 1)}


@register_attack(AttackSpec("apgd", "white-box", dict(APGD_DEFAULTS), dict(APGD_VALIDATORS),
                            objectives=objective_names("misclassify"),
                            doc="Croce & Hein 2020 (APGD-CE, APGD-DLR; APGD-T with objective dlr_targeted)"))
def _apgd_search(c: SearchContext) -> torch.Tensor:
    return apgd(c.oracle, c.objective, c.x, c.s, c.ball, generator=c.gen, logp_clean=c.logp0, kappa_clean=c.kappa0,
                **c.pick(*APGD_DEFAULTS))
