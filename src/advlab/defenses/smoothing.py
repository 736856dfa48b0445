"""Randomized smoothing (Cohen et al. 2019, "Certified Adversarial Robustness via
Randomized Smoothing"): the smoothed classifier ``g(x) = argmax_c P(f(x + ε) = c)``,
``ε ~ N(0, σ²I)``, with its PREDICT and CERTIFY procedures (the paper's pseudocode).

Noise is sampled in batches that span several inputs at once: a batch of ``batch_size``
noisy images covers ``batch_size // n_samples`` inputs, or one input's samples in chunks.
Predictions use −1 for abstain. Certified accuracy vs radius lives in
:mod:`advlab.metrics.robustness`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from advlab.defenses._batching import model_device
from advlab.errors import check

__all__ = ["ABSTAIN", "sample_counts", "clopper_pearson_lower", "predict", "certify"]

ABSTAIN = -1


def _check_args(sigma: float, alpha: float, **counts: int) -> None:
    check(sigma > 0, f"sigma={sigma!r}: the noise level must be > 0")
    check(0 < alpha < 1, f"alpha={alpha!r}: the failure probability must be in (0, 1)")
    for name, v in counts.items():
        check(isinstance(v, int) and v >= 1, f"{name}={v!r}: must be an integer >= 1")


@torch.no_grad()
def sample_counts(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float,
    n: int,
    batch_size: int = 1000,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Class counts of ``argmax f(x + ε)`` over ``n`` noise draws per input: ``(B, K)`` int64."""
    model.eval()
    dev = model_device(model)
    x = x.to(dev)
    B = x.shape[0]
    counts: torch.Tensor | None = None
    per_input = max(1, min(n, batch_size))
    inputs_per_batch = max(1, batch_size // per_input)
    for i0 in range(0, B, inputs_per_batch):
        xs = x[i0 : i0 + inputs_per_batch]
        b = xs.shape[0]
        for j0 in range(0, n, per_input):
            m = min(per_input, n - j0)
            noisy = xs.repeat_interleave(m, dim=0)  # input-major: rows i·m .. i·m+m−1 belong to input i
            eps = torch.randn(noisy.shape, generator=generator, device=generator.device if generator else dev)
            logits = model(noisy + sigma * eps.to(dev, noisy.dtype))
            if counts is None:
                counts = torch.zeros(B, logits.shape[1], dtype=torch.long, device=dev)
            pred = logits.argmax(dim=1).view(b, m)
            counts[i0 : i0 + b].scatter_add_(1, pred, torch.ones_like(pred))
    return counts.cpu()


def clopper_pearson_lower(successes: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """One-sided ``(1 − α)`` Clopper–Pearson lower confidence bound on a binomial proportion
    (Cohen et al. 2019, LOWERCONFBOUND): ``Beta(α; k, n − k + 1)``, and 0 when ``k = 0``.
    """
    k = np.asarray(successes, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        from scipy.stats import beta  # scipy.stats is slow to import; only certify needs it

        lb = beta.ppf(alpha, k, n - k + 1)
    return np.where(k > 0, lb, 0.0)


def predict(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float,
    n: int,
    alpha: float,
    batch_size: int = 1000,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PREDICT (Cohen et al. 2019): the top class of ``n`` noisy votes, unless a
    two-sided binomial test of its count ``n_A`` against the runner-up's ``n_B``
    (``p = 0.5``) has p-value ``> α``, in which case abstain (−1). The answer differs
    from ``g(x)`` with probability at most ``α`` (their Proposition 1).
    """
    _check_args(sigma, alpha, n=n)
    counts = sample_counts(model, x, sigma, n, batch_size, generator)
    top2 = counts.topk(min(2, counts.shape[1]), dim=1)
    n_a = top2.values[:, 0].numpy()
    n_b = top2.values[:, 1].numpy() if counts.shape[1] > 1 else np.zeros_like(n_a)
    # binom(n_A + n_B, ½) is symmetric, so the two-sided p-value is 2·P(X ≤ min(n_A, n_B)).
    from scipy.stats import binom

    p_value = np.minimum(1.0, 2 * binom.cdf(np.minimum(n_a, n_b), n_a + n_b, 0.5))
    pred = top2.indices[:, 0].clone()
    pred[torch.from_numpy(p_value > alpha)] = ABSTAIN
    return pred


def certify(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float,
    n0: int,
    n: int,
    alpha: float,
    batch_size: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CERTIFY (Cohen et al. 2019; the radius is Theorem 1's ``σ·Φ⁻¹(p_A)`` with ``p_B = 1 − p_A``).

    Guess ``ĉ_A`` from ``n0`` noisy votes; from ``n`` fresh votes take the Clopper–Pearson
    lower bound ``p_A`` on ``P(f(x + ε) = ĉ_A)`` at level ``1 − α``; if ``p_A > ½`` return
    ``ĉ_A`` with certified L2 radius ``R = σ·Φ⁻¹(p_A)``, else abstain (−1, radius 0).
    Returns ``(predictions (B,) int64, radius (B,) float64)``.
    """
    _check_args(sigma, alpha, n0=n0, n=n)
    c_a = sample_counts(model, x, sigma, n0, batch_size, generator).argmax(dim=1)
    counts = sample_counts(model, x, sigma, n, batch_size, generator)
    n_a = counts.gather(1, c_a[:, None]).squeeze(1).numpy()
    p_a = clopper_pearson_lower(n_a, n, alpha)
    certified = p_a > 0.5
    from scipy.stats import norm

    radius = np.where(certified, sigma * norm.ppf(np.where(certified, p_a, 0.75)), 0.0)
    pred = torch.where(torch.from_numpy(certified), c_a, torch.full_like(c_a, ABSTAIN))
    return pred, torch.from_numpy(radius)
