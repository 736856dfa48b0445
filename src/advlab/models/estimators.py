"""Uncertainty estimators κ (SPEC §4) and their registry :data:`ESTIMATORS`: softmax
response, MC-Dropout, deep ensembles, SelectiveNet and temperature scaling.

An estimator is an ``nn.Module`` mapping images in ``[0, 1]`` to LOG-probabilities
``(B, K)``; ``confidence(x)`` is its uncertainty score ``κ`` ``(B,)`` (higher = more
confident), decided here and nowhere else: the max of the estimator's own predictive
distribution unless the estimator overrides it (SelectiveNet: ``g(x)``). The attack
engine's κ-objectives (ACE) call ``confidence``; ``outputs(x)`` returns both at once for
evaluation. The engine applies ``log_softmax`` to whatever a module returns, and
``log_softmax`` of log-probabilities is the identity, so plain models and estimators are
interchangeable.

:func:`build_estimator` makes any registered estimator from loaded models (one, or the M
members of an ensemble) with one clear error per misuse. Models follow the zoo convention:
``model(x)`` returns logits, ``model.embed(x)`` the penultimate features ``(B, D)``,
``model.classify(features)`` the logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from advlab.errors import AdvlabError, check
from advlab.models.archs.selectivenet import SelectiveBackbone
from advlab.models.registry import ESTIMATORS
from advlab.models.zoo import dropout_layers

__all__ = [
    "Estimator",
    "Softmax",
    "MCDropout",
    "DeepEnsemble",
    "SelectiveNet",
    "SelectiveOutput",
    "TemperatureScaled",
    "selective_estimator",
    "selectivenet_loss",
    "build_estimator",
    "ESTIMATORS",
]


class Estimator(nn.Module):
    """Base class: ``forward(x)`` returns log-probabilities; ``confidence(x)`` returns κ.

    ``build(models, names, **options)`` makes the estimator from loaded models (the
    registry's constructor; :func:`build_estimator` checks the model count first).
    """

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log-probabilities, κ)`` from one forward; κ is the softmax response by default."""
        logp = self(x)
        return logp, logp.exp().amax(dim=1)

    def confidence(self, x: torch.Tensor) -> torch.Tensor:
        """κ: the max of the estimator's predictive distribution unless a subclass says otherwise."""
        return self.outputs(x)[1]

    @classmethod
    def build(cls, models: list[nn.Module], names: list[str], **options) -> "Estimator":
        return cls(models[0], **options)


def _log_mean_prob(log_probs: torch.Tensor, dim: int = 0) -> torch.Tensor:
    # log(mean_t p_t) via logsumexp: averaging probabilities in log space stays finite
    # where a member is very sure, and keeps gradients usable for the attacks.
    return torch.logsumexp(log_probs, dim=dim) - math.log(log_probs.shape[dim])


@ESTIMATORS.register("softmax", options=())
class Softmax(Estimator):
    """Softmax response (Hendrycks & Gimpel 2017): ``κ(x) = max_k softmax(f(x))_k``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.model(x), dim=1)


@ESTIMATORS.register("temperature", options=("temperature",))
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


@ESTIMATORS.register("mc_dropout", options=("T", "seed"))
class MCDropout(Estimator):
    """MC-Dropout (Gal & Ghahramani 2016): ``p(y|x) ≈ (1/T) Σ_t softmax(f_t(x))`` with ``T``
    dropout masks drawn once from ``seed`` and shared by every input.

    Each pass ``t`` is then a fixed sub-network, so the predictive distribution (and ŷ) is
    a deterministic function of the input: the label-preserving invariant of ACE can be
    checked exactly and an attack's acceptance test means the same thing as the final
    evaluation. (Fresh masks per call make ŷ itself random near the decision boundary.)
    The backbone before the first dropout layer runs once and the batch is expanded ``T``
    times there, so the ``T`` passes cost one trunk forward plus ``T`` head forwards
    (exactly what repeating the input would give with the same masks, for models whose
    dropout layers sit on a single path, as in the zoo). Everything else stays in eval
    mode (BatchNorm keeps its running statistics); the masks are applied by forward hooks
    on the dropout layers (:func:`advlab.models.zoo.dropout_layers`), scaled by
    ``1/(1−p)`` like ``nn.Dropout`` in training. κ is the max of the mean softmax (SPEC §4).
    """

    def __init__(self, model: nn.Module, T: int = 10, seed: int = 0, name: str | None = None):
        super().__init__()
        check(isinstance(T, int) and T >= 1, f"mc_dropout: T={T!r} must be an integer >= 1")
        self._drops = dropout_layers(model)
        name = name or f"model {type(model).__name__}"
        check(bool(self._drops), f"estimator 'mc_dropout' needs a model with dropout, but {name} has none (no "
                                 f"dropout layer with p > 0: set its options.dropout > 0 and retrain, or use "
                                 f"'softmax')")
        self.model = model
        self.T = T
        self.seed = int(seed)
        self._masks: dict[tuple, torch.Tensor] = {}

    @classmethod
    def build(cls, models, names, **options) -> "MCDropout":
        return cls(models[0], name=names[0], **options)

    def _mask(self, i: int, p: float, shape, device, dtype) -> torch.Tensor:
        key = (i, tuple(shape), str(device), dtype)
        if key not in self._masks:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
            keep = torch.rand((self.T, *shape), generator=g) >= p
            self._masks[key] = (keep.to(dtype) / (1.0 - p)).to(device)
        return self._masks[key]

    def sample_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Log-softmax of every pass, shape ``(T, B, K)``."""
        B, T = x.shape[0], self.T
        expanded = [False]

        def hook(i, module, inputs, output):
            h = inputs[0]
            if not expanded[0]:
                if h.shape[0] != B:
                    raise AdvlabError("MC-Dropout: the first dropout layer saw a batch of another size; "
                                      "the model routes the batch in a way shared masks do not support")
                h = h.repeat(T, *([1] * (h.dim() - 1)))
                expanded[0] = True
            feat = h.shape[1:]
            m = self._mask(i, module.p, feat, h.device, h.dtype)
            return (h.view(T, B, *feat) * m[:, None]).view(T * B, *feat)

        handles = [m.register_forward_hook(lambda mod, inp, out, i=i: hook(i, mod, inp, out))
                   for i, m in enumerate(self._drops)]
        was = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        try:
            logits = self.model(x)
        finally:
            for h in handles:
                h.remove()
            for m, mode in was:
                m.training = mode
        check(logits.shape[0] == T * B, f"MC-Dropout: expected {T * B} rows of logits, got {logits.shape[0]}")
        return F.log_softmax(logits, dim=1).view(T, B, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _log_mean_prob(self.sample_log_probs(x), dim=0)


@ESTIMATORS.register("ensemble", options=(), ensemble=True)
class DeepEnsemble(Estimator):
    """Deep Ensembles (Lakshminarayanan et al. 2017): mean softmax of M members."""

    @classmethod
    def build(cls, models, names, **options) -> "DeepEnsemble":
        return cls(models, **options)

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


@ESTIMATORS.register("selectivenet", options=())
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

    @classmethod
    def build(cls, models, names, **options) -> "SelectiveNet":
        return selective_estimator(models[0], names[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.model.classify(self.model.embed(x)), dim=1)

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.model.embed(x)
        return F.log_softmax(self.model.classify(feats), dim=1), torch.sigmoid(self.selector(feats)).squeeze(1)

    def confidence(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.selector(self.model.embed(x))).squeeze(1)


def selective_estimator(model: nn.Module, name: str = "model") -> SelectiveNet:
    """The :class:`SelectiveNet` estimator of a zoo ``selectivenet`` model, sharing its heads."""
    bb = getattr(model, "backbone", None)
    if not isinstance(bb, SelectiveBackbone):
        raise AdvlabError(f"estimator 'selectivenet' needs a model of arch 'selectivenet' (trained with the "
                          f"'selectivenet' objective); {name} is a {type(bb or model).__name__}")
    est = SelectiveNet(model, feature_dim=bb.feature_dim, num_classes=bb.num_classes, hidden=bb.selector_hidden)
    est.selector, est.aux = bb.selector, bb.aux  # the trained heads, not fresh ones
    return est


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


def build_estimator(kind: str, models: nn.Module | Sequence[nn.Module], names: Sequence[str] | None = None,
                    **options) -> Estimator:
    """The registered estimator ``kind`` over loaded models (one, or the M members of an
    ensemble); ``names`` (the params names of the models) appear in the error messages;
    ``options`` are the estimator's own (``ESTIMATORS.meta(kind)["options"]``)."""
    cls = ESTIMATORS.get(kind)
    meta = ESTIMATORS.meta(kind)
    models = [models] if isinstance(models, nn.Module) else list(models)
    names = list(names) if names is not None else [f"model {i}" for i in range(len(models))]
    check(len(models) >= 1, f"estimator {kind!r}: got M = {len(models)} models; it needs at least 1")
    if not meta.get("ensemble"):
        check(len(models) == 1, f"estimator {kind!r} wraps one model, got {len(models)} ({', '.join(names)})")
    unknown = sorted(set(options) - set(meta["options"]))
    check(not unknown, f"estimator={kind!r}: bad arguments {unknown}; it takes {list(meta['options']) or 'none'}")
    return cls.build(models, names, **options)
