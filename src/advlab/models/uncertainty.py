"""Uncertainty estimators for pipeline models (SPEC §4): the ``selectivenet`` zoo
architecture, a deterministic batched MC-Dropout, and :func:`build_estimator`, which turns
checkpoints of the ``models:`` section into the estimators of
:mod:`advlab.models.estimators` with one clear error per misuse.

* ``selectivenet`` (Geifman & El-Yaniv 2019): a zoo architecture whose options name the
  base architecture (``base: small_cnn`` plus the base's own options) and the selection
  head's width (``selector_hidden``). The backbone carries the selection head ``g`` and the
  auxiliary head ``h`` next to the base's ``embed``/``classify``, so the checkpoint code
  rebuilds it from its sidecar like any other zoo model; the prediction ``f`` is the plain
  ``model(x)``. :func:`selective_estimator` wraps such a model in the library's
  :class:`~advlab.models.estimators.SelectiveNet`, sharing the trained heads (κ = g(x)).
* :class:`SharedMaskMCDropout`: MC-Dropout (Gal & Ghahramani 2016) with ``T`` dropout
  masks drawn once from a seed and shared by every input. Each pass ``t`` is then a fixed
  sub-network, so the predictive distribution (and ŷ) is a deterministic function of the
  input: the label-preserving invariant of ACE can be checked exactly and an attack's
  acceptance test means the same thing as the final evaluation. (Fresh masks per call make
  ŷ itself random near the decision boundary.) The backbone before the first dropout layer
  runs once and the batch is expanded ``T`` times there, so the ``T`` passes cost one trunk
  forward plus ``T`` head forwards (exactly what repeating the input would give with the
  same masks, for models whose dropout layers sit on a single path, as in the zoo).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from advlab.errors import AdvlabError, check
from advlab.models import zoo
from advlab.models.estimators import DeepEnsemble, Estimator, MCDropout, SelectiveNet, Softmax

__all__ = ["SelectiveBackbone", "SharedMaskMCDropout", "selective_estimator", "build_estimator", "KINDS"]

KINDS = ("softmax", "mc_dropout", "ensemble", "selectivenet")


class SelectiveBackbone(nn.Module):
    """A zoo backbone plus SelectiveNet's selection head ``g`` and auxiliary head ``h``.

    ``embed``/``classify`` are the base's (so ``model(x)`` is the prediction head ``f``);
    ``selector`` is Dense-ReLU-BatchNorm-Dense (sigmoid applied by the estimator), as in the
    published code and :class:`~advlab.models.estimators.SelectiveNet`.
    """

    def __init__(self, base: nn.Module, input_shape, num_classes: int, selector_hidden: int):
        super().__init__()
        self.base = base
        with torch.no_grad():  # the feature size D, whatever the base architecture
            was = base.training
            base.eval()
            self.feature_dim = int(base.embed(torch.zeros(2, *input_shape)).shape[1])
            base.train(was)
        self.num_classes = int(num_classes)
        self.selector_hidden = int(selector_hidden)
        self.selector = nn.Sequential(nn.Linear(self.feature_dim, selector_hidden), nn.ReLU(),
                                      nn.BatchNorm1d(selector_hidden), nn.Linear(selector_hidden, 1))
        self.aux = nn.Linear(self.feature_dim, num_classes)

    def embed(self, x):
        return self.base.embed(x)

    def classify(self, f):
        return self.base.classify(f)


@zoo.register("selectivenet")
def selectivenet(input_shape, num_classes, base: str = "small_cnn", selector_hidden: int = 64, **base_options):
    """SelectiveNet around the zoo architecture ``base`` (its options pass through)."""
    if base == "selectivenet" or base not in zoo.available():
        raise AdvlabError(f"selectivenet: base={base!r} must be another zoo architecture "
                          f"({', '.join(a for a in zoo.available() if a != 'selectivenet')})")
    if not isinstance(selector_hidden, int) or selector_hidden < 1:
        raise AdvlabError(f"selectivenet: selector_hidden={selector_hidden!r} must be an integer >= 1")
    backbone = zoo._REGISTRY[base](tuple(input_shape), int(num_classes), **base_options)
    return SelectiveBackbone(backbone, input_shape, num_classes, selector_hidden)


def selective_estimator(model: nn.Module, name: str = "model") -> SelectiveNet:
    """The :class:`SelectiveNet` estimator of a zoo ``selectivenet`` model, sharing its heads."""
    bb = getattr(model, "backbone", None)
    if not isinstance(bb, SelectiveBackbone):
        raise AdvlabError(f"estimator 'selectivenet' needs a model of arch 'selectivenet' (trained with the "
                          f"'selectivenet' objective); {name} is a {type(bb or model).__name__}")
    est = SelectiveNet(model, feature_dim=bb.feature_dim, num_classes=bb.num_classes, hidden=bb.selector_hidden)
    est.selector, est.aux = bb.selector, bb.aux  # the trained heads, not fresh ones
    return est


def _dropouts(model: nn.Module) -> list[nn.Dropout]:
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]


class SharedMaskMCDropout(MCDropout):
    """MC-Dropout with ``T`` seeded masks shared by all inputs; see the module docstring.

    ``κ`` = max of the mean softmax over the ``T`` passes (SPEC §4). Everything else in the
    model stays in eval mode; the masks are applied by forward hooks on the dropout layers,
    scaled by ``1/(1−p)`` like ``nn.Dropout`` in training.
    """

    def __init__(self, model: nn.Module, T: int = 10, seed: int = 0):
        super().__init__(model, T)
        self.seed = int(seed)
        self._drops = _dropouts(model)
        self._masks: dict[tuple, torch.Tensor] = {}

    def _mask(self, i: int, p: float, shape, device, dtype) -> torch.Tensor:
        key = (i, tuple(shape), str(device), dtype)
        if key not in self._masks:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
            keep = torch.rand((self.T, *shape), generator=g) >= p
            self._masks[key] = (keep.to(dtype) / (1.0 - p)).to(device)
        return self._masks[key]

    def sample_log_probs(self, x: torch.Tensor) -> torch.Tensor:
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


def build_estimator(kind: str, models: Sequence[nn.Module], names: Sequence[str], *, T: int = 10,
                    seed: int = 0) -> Estimator:
    """The estimator ``kind`` over loaded models (one, or the M members of an ensemble).

    ``names`` are the params names of the models, used in the error messages.
    """
    check(kind in KINDS, f"estimator={kind!r} is unknown; choose one of {', '.join(KINDS)}")
    models, names = list(models), list(names)
    check(len(models) >= 1, f"estimator {kind!r}: got M = {len(models)} models; it needs at least 1")
    if kind == "ensemble":
        return DeepEnsemble(models)
    check(len(models) == 1, f"estimator {kind!r} wraps one model, got {len(models)} ({', '.join(names)})")
    model, name = models[0], names[0]
    if kind == "softmax":
        return Softmax(model)
    if kind == "mc_dropout":
        check(isinstance(T, int) and T >= 1, f"mc_dropout: T={T!r} must be an integer >= 1")
        check(bool(_dropouts(model)), f"estimator 'mc_dropout' needs a model with dropout, but {name} has none "
                                      f"(set its options.dropout > 0 and retrain, or use 'softmax')")
        return SharedMaskMCDropout(model, T=T, seed=seed)
    return selective_estimator(model, name)
