"""Robust training objectives (SPEC §2): PGD adversarial training, TRADES, Gaussian noise.

The inner maximisation of PGD-AT and TRADES is the attack engine's own PGD
(:func:`advlab.attacks.whitebox.pgd` with the engine's :class:`~advlab.attacks.gradient.Oracle`
and :class:`~advlab.attacks.constraints.Ball`), not a copy; only the objective it
climbs differs. Adversarial examples are made with the model in eval mode and its
weights frozen (BatchNorm statistics are not disturbed by the attack's forward passes),
then the loss is computed in train mode.

Register names (``models.<name>.train.objective``): ``pgd_at``, ``trades``, ``gaussian_noise``.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F

from advlab.attacks.constraints import NORMS, Ball
from advlab.attacks.gradient import Oracle
from advlab.attacks.objectives import MisclassifyCE, Objective
from advlab.attacks.whitebox import pgd
from advlab.defenses.transforms import gaussian_noise as add_noise
from advlab.errors import check
from advlab.training.objectives import TRAIN_OBJECTIVES

__all__ = ["pgd_at", "trades", "gaussian_noise_training", "adversarial_examples"]


class _TrainCE(MisclassifyCE):
    """CE without early stop: Madry's inner maximisation runs all steps on every sample."""

    def done(self, logp, kappa, s):
        return torch.zeros(len(logp), dtype=torch.bool, device=logp.device)


class _TradesKL(Objective):
    """TRADES' inner objective (Zhang et al. 2019, eq. 5): ``KL(f(x) ‖ f(x'))``, never done."""

    name = "trades_kl"

    def prepare(self, logp, y, kappa=None, generator=None):
        return {"y": y, "yhat": logp.argmax(1), "p_clean": logp.exp()}

    def score(self, logp, kappa, s):
        p = s["p_clean"]
        return (p * (p.clamp_min(1e-12).log() - logp)).sum(1)


@contextmanager
def _frozen_eval(model):
    training = model.training
    flags = [q.requires_grad for q in model.parameters()]
    model.eval()
    model.requires_grad_(False)
    try:
        yield
    finally:
        model.train(training)
        for q, f in zip(model.parameters(), flags):
            q.requires_grad_(f)


def _check(eps, steps, norm, alpha):
    check(norm in NORMS, f"norm={norm!r} is not supported for adversarial training; allowed: {list(NORMS)}")
    check(isinstance(eps, (int, float)) and 0 < eps <= (1.0 if norm == "linf" else 1e3),
          f"eps={eps!r}: the training perturbation budget must be in (0, 1] for linf")
    check(isinstance(steps, int) and steps >= 1, f"steps={steps!r}: must be an integer >= 1")
    check(alpha is None or (isinstance(alpha, (int, float)) and alpha > 0), f"alpha={alpha!r}: must be None or > 0")


def adversarial_examples(model, x, y, objective: Objective, eps: float, steps: int, norm: str = "linf",
                         alpha: float | None = None, random_start: bool = True,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """The engine's PGD on ``objective`` around ``(x, y)``; returns detached ``x_adv``."""
    with _frozen_eval(model):
        oracle = Oracle(model, len(x), x.device)
        with torch.no_grad():
            logp0, _ = oracle(x)
        s = objective.prepare(logp0, y)
        x_adv = pgd(oracle, objective, x.detach(), s, Ball(norm, float(eps)), steps=steps, alpha=alpha,
                    random_start=random_start, generator=generator, logp_clean=logp0)
    return x_adv.detach()


def _generator(x, seed):
    # one stream per objective instance; the training loop reseeds torch per epoch, so draw the
    # attack's seed from torch's RNG to keep resumed runs bit-identical
    return torch.Generator(device=x.device).manual_seed(int(torch.randint(0, 2**31 - 1, (1,))) + seed)


@TRAIN_OBJECTIVES.register("pgd_at")
def pgd_at(eps: float = 0.1, steps: int = 7, alpha: float | None = None, norm: str = "linf",
           random_start: bool = True, seed: int = 0):
    """PGD adversarial training (Madry et al. 2018, eq. 2.1): ``CE(f(x*), y)``,
    ``x* = PGD_{ε, steps}(CE)`` from a random start, every step taken (no early stop).
    ``alpha`` defaults to the engine's ``2.5·ε/steps``."""
    _check(eps, steps, norm, alpha)
    inner = _TrainCE()

    def loss(model, x, y):
        x_adv = adversarial_examples(model, x, y, inner, eps, steps, norm, alpha, random_start, _generator(x, seed))
        return F.cross_entropy(model(x_adv), y)

    return loss


@TRAIN_OBJECTIVES.register("trades")
def trades(beta: float = 6.0, eps: float = 0.1, steps: int = 7, alpha: float | None = None, norm: str = "linf",
           seed: int = 0):
    """TRADES (Zhang et al. 2019, eq. 5): ``CE(f(x), y) + β·KL(f(x) ‖ f(x*))``, ``x*`` from
    PGD on the KL term started at ``x + 0.001·N(0, I)`` (their code's start; we use the
    engine's uniform random start in the ε-ball, which is equivalent in spirit)."""
    _check(eps, steps, norm, alpha)
    check(isinstance(beta, (int, float)) and beta >= 0, f"beta={beta!r}: the TRADES weight must be >= 0")
    inner = _TradesKL()

    def loss(model, x, y):
        x_adv = adversarial_examples(model, x, y, inner, eps, steps, norm, alpha, True, _generator(x, seed))
        clean, adv = model(x), model(x_adv)
        kl = F.kl_div(F.log_softmax(adv, 1), F.softmax(clean, 1), reduction="batchmean")
        return F.cross_entropy(clean, y) + beta * kl

    return loss


@TRAIN_OBJECTIVES.register("gaussian_noise")
def gaussian_noise_training(sigma: float = 0.25):
    """Gaussian noise augmentation (Cohen et al. 2019, §3.3): ``CE(f(x + σ·ε), y)``,
    ``ε ~ N(0, I)``, unclipped as in randomized smoothing; the base model of a smoothed
    classifier with the same ``σ``."""
    check(isinstance(sigma, (int, float)) and sigma > 0, f"sigma={sigma!r}: the noise level must be > 0")

    def loss(model, x, y):
        return F.cross_entropy(model(add_noise(x, float(sigma))), y)

    return loss
