"""The model zoo: ``build_model(name, input_shape, num_classes, **options)`` over the
:data:`~advlab.models.registry.MODELS` registry (architectures live in :mod:`advlab.models.archs`).

Every model takes images in ``[0, 1]`` and normalises inside its own ``forward``, so
attacks work in pixel space. Every model is a :class:`Classifier` with
``embed(x)`` (penultimate features) and ``classify(features)`` (logits), which the
detectors (Mahalanobis, LID) and SelectiveNet heads use, and ``has_dropout`` for
MC-Dropout. :func:`capabilities` answers what params checks ask of an architecture
without building it, from the metadata each architecture registers.
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.errors import AdvlabError
from advlab.models.options import unknown
from advlab.models.registry import MODELS

__all__ = ["Classifier", "available", "build_backbone", "build_model", "capabilities", "dropout_layers",
           "option_problems"]


def available() -> list[str]:
    return MODELS.names()


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    """The dropout layers that drop something (``p > 0``): what MC-Dropout switches on."""
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]


class Classifier(nn.Module):
    """Normalisation + a backbone with ``embed``/``classify``; input in ``[0, 1]``."""

    def __init__(self, backbone: nn.Module, in_chans: int, mean=None, std=None):
        super().__init__()
        self.backbone = backbone
        mean = torch.tensor(mean if mean is not None else [0.5] * in_chans).view(1, -1, 1, 1)
        std = torch.tensor(std if std is not None else [0.5] * in_chans).view(1, -1, 1, 1)
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())

    @property
    def has_dropout(self) -> bool:
        return bool(dropout_layers(self))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.embed((x - self.mean) / self.std)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.backbone.classify(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))


def capabilities(arch: str, options: dict) -> dict[str, bool]:
    """What params checks ask of architecture ``arch`` with ``options``, without building it:
    ``batchnorm`` (DP-SGD cannot train it), ``dropout`` (MC-Dropout needs it), ``selective``
    (a SelectiveNet head). Defaults (no BatchNorm, not selective, dropout iff the ``dropout``
    option is > 0), overridden by the architecture's registered ``capabilities``."""
    meta = MODELS.meta(arch)
    own = meta.get("capabilities")
    return {"batchnorm": False, "dropout": float(options.get("dropout", 0.0) or 0.0) > 0, "selective": False,
            **(own(dict(options)) if own else {})}


def option_problems(arch: str, options: dict, input_shape=None) -> list[str]:
    """What is wrong with ``options`` for architecture ``arch`` (its registered ``check``; without
    one, names outside its registered ``options``), one ``<option>: <problem>`` line each. The
    params schema calls it (key path ``models.<name>.options.<option>``) and so does the zoo."""
    meta = MODELS.meta(arch)
    if meta.get("check") is not None:
        return meta["check"](dict(options), None if input_shape is None else tuple(input_shape))
    return [] if meta.get("options") is None else unknown(options, meta["options"])


def build_backbone(name: str, input_shape, num_classes: int, **options) -> nn.Module:
    """The registered architecture's backbone (no normalisation), its options checked."""
    if name not in MODELS:
        raise AdvlabError(f"unknown model {name!r}; the zoo has {', '.join(available())}")
    problems = option_problems(name, options, input_shape)
    if problems:
        raise AdvlabError(f"model {name!r}: option {problems[0]}")
    return MODELS.get(name)(tuple(input_shape), int(num_classes), **options)


def build_model(name: str, input_shape, num_classes: int, **options) -> Classifier:
    """Build a zoo model by name; ``mean``/``std`` options set the inside normalisation.

    Models are built in the channels-last memory format: with this CPU's oneDNN kernels it
    runs the small CNN about 2x faster in inference (max-pooling 10x) and 1.3x in training,
    and the ResNet 1.2-1.5x, with the same outputs up to float rounding
    (``benchmarks/inference_layout.py``). Inputs stay NCHW; checkpoints store contiguous
    tensors and ``load_state_dict`` copies them into this layout."""
    mean, std = options.pop("mean", None), options.pop("std", None)
    try:
        backbone = build_backbone(name, input_shape, num_classes, **options)
    except TypeError as err:
        raise AdvlabError(f"model {name!r}: bad options {options} ({err})") from None
    return Classifier(backbone, input_shape[0], mean, std).to(memory_format=torch.channels_last)
