"""The attacked model as the engine sees it (an *oracle* that counts queries), and the
gradient wrappers: EOT and BPDA (Athalye et al. 2018, "Obfuscated Gradients Give a
False Sense of Security", §4.1 BPDA and §4.3 EOT).

* **EOT**: pass ``eot_samples=n`` to a gradient search (PGD, FGSM, ACE); the gradient
  is the mean over ``n`` forward/backward passes, each drawing the randomised
  defense's own randomness (e.g. random resize-and-pad), and the probabilities used
  to accept or keep an iterate are the mean over the same draws.
* **BPDA**: a defense with a non-differentiable preprocessing ``t`` (bit depth, median,
  JPEG) is attacked through ``x ↦ model(x + (t(x) − x).detach())``: the forward value
  is exactly ``model(t(x))`` and the backward treats ``t`` as the identity. Build it
  with :func:`straight_through` / :class:`BPDA`, or let the defense expose its own
  ``bpda_forward(x)`` and pass ``bpda=True`` to :func:`advlab.attacks.run_attack`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from advlab.attacks.objectives import Objective, State


def straight_through(transform: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x ↦ x + (t(x) − x).detach()``: value of ``t(x)``, gradient of the identity (BPDA)."""

    def f(x: torch.Tensor) -> torch.Tensor:
        return x + (transform(x) - x).detach()

    return f


class BPDA(nn.Module):
    """``classifier(t(x))`` with the straight-through gradient for ``t`` (Athalye et al. 2018)."""

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor], classifier: nn.Module):
        super().__init__()
        self.transform, self.classifier = straight_through(transform), classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.transform(x))


class BPDAView(nn.Module):
    """A defended model seen through its own ``bpda_forward`` (used when ``bpda=True``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.bpda_forward(x)


class Oracle:
    """Wraps a model (or estimator): log-probabilities, optional κ, per-sample query counts.

    ``log_softmax`` is applied to every output, so a model returning logits and an
    estimator returning log-probabilities look the same. ``kappa`` is the model's
    ``confidence(x)`` when the objective needs it and the model has one, else None.
    """

    def __init__(self, model: nn.Module, n: int, device, needs_kappa: bool = False):
        self.model = model
        self.use_kappa = needs_kappa and callable(getattr(model, "confidence", None))
        self.queries = torch.zeros(n, dtype=torch.long, device=device)

    def __call__(self, x: torch.Tensor, idx: torch.Tensor | None = None):
        self.count(idx)
        logp = torch.log_softmax(self.model(x), dim=1)
        kappa = self.model.confidence(x) if self.use_kappa else None
        return logp, kappa

    def count(self, idx: torch.Tensor | None, k: int = 1) -> None:
        if idx is None:
            self.queries += k
        else:
            self.queries.index_add_(0, idx, torch.full_like(idx, k))

    @torch.no_grad()
    def labels(self, x: torch.Tensor, idx: torch.Tensor | None = None, k: int = 1) -> torch.Tensor:
        """Label-only query (decision-based and black-box ACE threat models); ``x`` holds
        ``k`` consecutive candidates per sample of ``idx``, each counted as a query."""
        self.count(idx, k)
        return self.model(x).argmax(1)


def score_and_grad(oracle: Oracle, objective: Objective, x: torch.Tensor, s: State,
                   idx: torch.Tensor | None = None, eot_samples: int = 1):
    """Objective value and its input gradient, averaged over ``eot_samples`` draws (EOT).

    Returns ``(logp, kappa, score, grad)``; ``logp`` is the log of the mean probability
    over draws and ``score`` is the objective at those averaged outputs.
    """
    grad = torch.zeros_like(x)
    probs, kappas = 0.0, 0.0
    for _ in range(eot_samples):
        xr = x.detach().requires_grad_(True)
        with torch.enable_grad():
            logp, kappa = oracle(xr, idx)
            value = objective.score(logp, kappa, s)
            grad += torch.autograd.grad(value.sum(), xr)[0]
        probs = probs + logp.detach().exp()
        kappas = kappas + (kappa.detach() if kappa is not None else 0.0)
    if eot_samples == 1:
        logp = logp.detach()
        kappa = kappa.detach() if kappa is not None else None
    else:
        grad /= eot_samples
        logp = (probs / eot_samples).clamp_min(1e-30).log()
        kappa = kappas / eot_samples if kappa is not None else None
    return logp, kappa, objective.score(logp, kappa, s).detach(), grad


class RowsOracle(Oracle):
    """The oracle of a batch seen on some of its rows (a composite attack runs each component
    on the samples still robust): queries are counted on the parent's rows."""

    def __init__(self, parent: Oracle, rows: torch.Tensor):
        self.model, self.use_kappa = parent.model, parent.use_kappa
        self.parent, self.rows = parent, rows

    @property
    def queries(self) -> torch.Tensor:
        return self.parent.queries[self.rows]

    def count(self, idx: torch.Tensor | None, k: int = 1) -> None:
        self.parent.count(self.rows if idx is None else self.rows[idx], k)
