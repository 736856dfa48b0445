"""Uncertainty estimators κ (SPEC §4): softmax response, MC-Dropout, deep ensembles,
SelectiveNet, and temperature scaling.

An estimator is an ``nn.Module`` mapping images in ``[0, 1]`` to LOG-probabilities
``(B, K)``; ``confidence(x)`` returns its uncertainty score ``κ`` ``(B,)`` (higher = more
confident; by default the max softmax of the estimator's own probabilities). The attack
engine applies ``log_softmax`` to whatever a module returns, and ``log_softmax`` of
log-probabilities is the identity, so plain models and estimators are interchangeable.

Models follow the zoo convention: ``model(x)`` returns logits, ``model.embed(x)`` the
penultimate features ``(B, D)``, ``model.classify(features)`` the logits, and
``model.has_dropout`` says whether MC-Dropout applies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from advlab.errors import AdvlabError, check

__all__ = [
    "Estimator",
    "Softmax",
    "MCDropout",
    "DeepEnsemble",
    "SelectiveNet",
    "SelectiveOutput",
    "TemperatureScaled",
    "selectivenet_loss",
    "make_estimator",
    "ESTIMATORS",
]


class Estimator(nn.Module):
    """Base class: ``forward(x)`` returns log-probabilities; ``confidence(x)`` returns κ."""

    def confidence(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax response: the max of the estimator's predictive distribution."""
        return self(x).exp().amax(dim=1)


def _log_mean_prob(log_probs: torch.Tensor, dim: int = 0) -> torch.Tensor:
    # log(mean_t p_t) via logsumexp: averaging probabilities in log space stays finite
    # where a member is very sure, and keeps gradients usable for the attacks.
    return torch.logsumexp(log_probs, dim=dim) - math.log(log_probs.shape[dim])


class Softmax(Estimator):
    """Softmax response (Hendrycks & Gimpel 2017): ``κ(x) = max_k softmax(f(x))_k``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.model(x), dim=1)


class TemperatureScaled(Estimator):
    """Temperature scaling (Guo et al. 2017, §4.2): ``log_softmax(z / T)``.

    ``T`` is a fixed buffer; :func:`advlab.defenses.posthoc.fit_temperature` fits it.
    """

    def __init__(self, model: nn.Module, temperature: float):
        super().__init__()
        check(
            math.isfinite(float(temperature)) and float(temperature) > 0,
            f"temperature={temperature!r}: must be a finite number > 0",
        )
        self.model = model
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.model(x) / self.temperature, dim=1)


def _dropout_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


@contextmanager
def _only_dropout_active(model: nn.Module):
    """Eval mode everywhere except dropout layers, restoring every module's mode after.

    MC-Dropout samples sub-networks at test time; BatchNorm must keep its running
    statistics (train mode would both use batch statistics and update the buffers).
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    for m in _dropout_modules(model):
        m.train()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


class MCDropout(Estimator):
    """MC-Dropout (Gal & Ghahramani 2016, the MC estimate of the predictive distribution): ``p(y|x) ≈ (1/T) Σ_t softmax(f_t(x))``.

    The ``T`` stochastic passes run as ONE forward on the batch repeated ``T`` times
    (``x.repeat(T, ...)``, pass-major), with dropout layers in train mode and everything
    else in eval mode. ``passes_per_forward`` caps how many passes share one forward,
    to bound memory; the result is the same distribution either way. κ is the max of the
    mean softmax (SPEC §4).
    """

    def __init__(self, model: nn.Module, T: int = 20, passes_per_forward: int | None = None):
        super().__init__()
        check(isinstance(T, int) and T >= 1, f"T={T!r}: MC-Dropout needs an integer number of passes >= 1")
        has_dropout = getattr(model, "has_dropout", None)
        if has_dropout is None:
            has_dropout = bool(_dropout_modules(model))
        check(
            bool(has_dropout),
            f"model {type(model).__name__} has no dropout: MC-Dropout needs a model trained "
            "with dropout (choose an architecture with dropout > 0, or use the 'softmax' estimator)",
        )
        # Functional dropout (F.dropout(..., training=self.training)) cannot be switched on
        # without also switching BatchNorm to train mode, so only nn.Dropout modules qualify.
        check(
            bool(_dropout_modules(model)),
            f"model {type(model).__name__} says has_dropout but contains no nn.Dropout module: "
            "MC-Dropout needs dropout as nn.Dropout layers it can switch on alone",
        )
        check(
            passes_per_forward is None or (isinstance(passes_per_forward, int) and passes_per_forward >= 1),
            f"passes_per_forward={passes_per_forward!r}: must be None or an integer >= 1",
        )
        self.model = model
        self.T = T
        self.passes_per_forward = passes_per_forward or T

    def sample_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Log-softmax of every stochastic pass, shape ``(T, B, K)``."""
        B = x.shape[0]
        chunks = []
        with _only_dropout_active(self.model):
            for start in range(0, self.T, self.passes_per_forward):
                t = min(self.passes_per_forward, self.T - start)
                logits = self.model(x.repeat(t, *([1] * (x.dim() - 1))))
                chunks.append(F.log_softmax(logits, dim=1).view(t, B, -1))
        return torch.cat(chunks, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _log_mean_prob(self.sample_log_probs(x), dim=0)


class DeepEnsemble(Estimator):
    """Deep Ensembles (Lakshminarayanan et al. 2017): mean softmax of M members."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        members = list(members) if not isinstance(members, nn.Module) else [members]
        check(len(members) >= 1, f"members: got {len(members)} models, a deep ensemble needs M >= 1")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _log_mean_prob(torch.stack([F.log_softmax(m(x), dim=1) for m in self.members]), dim=0)


class SelectiveOutput(NamedTuple):
    """The three heads of SelectiveNet: prediction logits f, selection g ∈ (0,1), auxiliary logits h."""

    logits: torch.Tensor
    selection: torch.Tensor
    aux_logits: torch.Tensor


class SelectiveNet(Estimator):
    """SelectiveNet (Geifman & El-Yaniv 2019, the three-headed architecture).

    On the backbone's penultimate features ``φ(x) = model.embed(x)``: the prediction head
    ``f = model.classify(φ)``, the selection head
    ``g = sigmoid(Linear(BatchNorm(ReLU(Linear_{D→hidden}(φ)))))`` (as in the published
    code: Dense-ReLU-BatchNorm-Dense-sigmoid) and the auxiliary head ``h = Linear(φ)``.
    ``forward`` returns ``log_softmax(f)``; ``confidence`` returns ``g(x)`` (SPEC §4);
    ``heads`` returns all three for training with :func:`selectivenet_loss`.

    ``feature_dim`` is ``D``; when omitted it is read from ``model.feature_dim`` or
    ``model.num_features``. ``num_classes`` likewise from ``model.num_classes``.
    """

    def __init__(self, model: nn.Module, feature_dim: int | None = None, num_classes: int | None = None, hidden: int = 512):
        super().__init__()
        check(
            callable(getattr(model, "embed", None)) and callable(getattr(model, "classify", None)),
            f"model {type(model).__name__} has no embed()/classify(): SelectiveNet needs the zoo wrapper",
        )
        feature_dim = feature_dim or getattr(model, "feature_dim", None) or getattr(model, "num_features", None)
        num_classes = num_classes or getattr(model, "num_classes", None)
        check(isinstance(feature_dim, int) and feature_dim >= 1, f"feature_dim={feature_dim!r}: pass the size D of model.embed(x)")
        check(isinstance(num_classes, int) and num_classes >= 2, f"num_classes={num_classes!r}: pass the number of classes K >= 2")
        check(isinstance(hidden, int) and hidden >= 1, f"hidden={hidden!r}: must be an integer >= 1")
        self.model = model
        self.selector = nn.Sequential(
            nn.Linear(feature_dim, hidden), nn.ReLU(), nn.BatchNorm1d(hidden), nn.Linear(hidden, 1)
        )
        self.aux = nn.Linear(feature_dim, num_classes)

    def heads(self, x: torch.Tensor) -> SelectiveOutput:
        feats = self.model.embed(x)
        return SelectiveOutput(
            self.model.classify(feats), torch.sigmoid(self.selector(feats)).squeeze(1), self.aux(feats)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.model.classify(self.model.embed(x)), dim=1)

    def confidence(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.selector(self.model.embed(x))).squeeze(1)


def selectivenet_loss(
    model_out: SelectiveOutput | tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    y: torch.Tensor,
    coverage: float,
    lam: float = 32.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    """SelectiveNet training objective (Geifman & El-Yaniv 2019: selective loss plus auxiliary loss).

    ``L = α·L_(f,g) + (1 − α)·L_h`` with
    ``L_(f,g) = r̂(f,g) + λ·max(0, c₀ − φ̂(g))²``, the empirical selective risk
    ``r̂ = mean(CE(f(x), y)·g(x)) / φ̂(g)`` and the empirical coverage ``φ̂ = mean(g(x))``;
    ``L_h = mean(CE(h(x), y))`` is the auxiliary head. The paper uses λ = 32, α = 0.5.
    """
    check(isinstance(coverage, int | float) and 0 < coverage <= 1, f"coverage={coverage!r}: target coverage c0 must be in (0, 1]")
    check(lam >= 0, f"lam={lam!r}: the coverage penalty weight must be >= 0")
    check(0 <= alpha <= 1, f"alpha={alpha!r}: the selective-loss weight must be in [0, 1]")
    logits, g, aux = model_out
    g = g.reshape(-1)
    emp_coverage = g.mean()
    # The clamp only guards against a selection head that has collapsed to exactly 0.
    selective_risk = (F.cross_entropy(logits, y, reduction="none") * g).mean() / emp_coverage.clamp_min(1e-12)
    penalty = lam * torch.clamp(coverage - emp_coverage, min=0) ** 2
    return alpha * (selective_risk + penalty) + (1 - alpha) * F.cross_entropy(aux, y)


ESTIMATORS: dict[str, Callable[..., Estimator]] = {
    "softmax": Softmax,
    "mc_dropout": MCDropout,
    "ensemble": DeepEnsemble,
    "selectivenet": SelectiveNet,
    "temperature": TemperatureScaled,
}


def make_estimator(name: str, model: nn.Module | Sequence[nn.Module], **kwargs) -> Estimator:
    """Build an estimator by name (timm-style registry); ``model`` is a list for 'ensemble'.

    Names: ``softmax``, ``mc_dropout`` (``T``), ``ensemble``, ``selectivenet``
    (``feature_dim``, ``num_classes``, ``hidden``), ``temperature`` (``temperature``).
    """
    check(name in ESTIMATORS, f"estimator={name!r} is unknown; choose one of {sorted(ESTIMATORS)}")
    if name != "ensemble":
        check(isinstance(model, nn.Module), f"estimator={name!r} wraps one model, got {type(model).__name__}")
    try:
        return ESTIMATORS[name](model, **kwargs)
    except TypeError as e:  # an unknown keyword: name the estimator, not the class internals
        raise AdvlabError(f"estimator={name!r}: bad arguments {sorted(kwargs)}: {e}") from e
