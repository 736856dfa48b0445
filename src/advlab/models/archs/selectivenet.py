"""``selectivenet`` (Geifman & El-Yaniv 2019): a zoo architecture around another one.

Its options name the base architecture (``base: small_cnn`` plus the base's own options,
checked by the base) and the selection head's width (``selector_hidden``). The backbone
carries the selection head ``g`` and the auxiliary head ``h`` next to the base's
``embed``/``classify``, so checkpoints rebuild it from their sidecar like any other zoo
model; the prediction ``f`` is the plain ``model(x)``. The ``selectivenet`` estimator
(:class:`advlab.models.estimators.SelectiveNet`) shares these trained heads (κ = g(x)).
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.errors import AdvlabError
from advlab.models import zoo
from advlab.models.registry import MODELS


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


def _capabilities(options: dict) -> dict[str, bool]:
    rest = {k: v for k, v in options.items() if k not in ("base", "selector_hidden")}
    return {**zoo.capabilities(options.get("base", "small_cnn"), rest), "batchnorm": True, "selective": True}


def check(options: dict, input_shape=None) -> list[str]:
    """``base`` (another zoo architecture), ``selector_hidden`` (>= 1), and the base's own options."""
    others = [a for a in MODELS.names() if not zoo.capabilities(a, {})["selective"]]
    base = options.get("base", "small_cnn")
    if base not in others:
        return [f"base: base={base!r} must be another zoo architecture ({', '.join(others)})"]
    if "selector_hidden" in options and not (isinstance(options["selector_hidden"], int)
                                             and not isinstance(options["selector_hidden"], bool)
                                             and options["selector_hidden"] >= 1):
        return [f"selector_hidden: must be an integer >= 1 (got {options['selector_hidden']!r})"]
    rest = {k: v for k, v in options.items() if k not in ("base", "selector_hidden")}
    return zoo.option_problems(base, rest, input_shape)


@MODELS.register("selectivenet", options=None, check=check, capabilities=_capabilities)
def selectivenet(input_shape, num_classes, base: str = "small_cnn", selector_hidden: int = 64, **base_options):
    """SelectiveNet around the zoo architecture ``base`` (its options pass through)."""
    others = [a for a in MODELS.names() if not zoo.capabilities(a, {})["selective"]]
    if base not in others:
        raise AdvlabError(f"selectivenet: base={base!r} must be another zoo architecture ({', '.join(others)})")
    if not isinstance(selector_hidden, int) or selector_hidden < 1:
        raise AdvlabError(f"selectivenet: selector_hidden={selector_hidden!r} must be an integer >= 1")
    backbone = zoo.build_backbone(base, input_shape, num_classes, **base_options)
    return SelectiveBackbone(backbone, input_shape, num_classes, selector_hidden)
