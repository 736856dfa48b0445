"""The model zoo: ``build_model(name, input_shape, num_classes, **options)`` via a registry.

Every model takes images in ``[0, 1]`` and normalises inside its own ``forward``, so
attacks work in pixel space. Every model is a :class:`Classifier` with
``embed(x)`` (penultimate features) and ``classify(features)`` (logits), which the
detectors (Mahalanobis, LID) and SelectiveNet heads use, and ``has_dropout`` for
MC-Dropout.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from advlab.errors import AdvlabError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def deco(fn):
        _REGISTRY[name] = fn
        return fn

    return deco


def available() -> list[str]:
    return sorted(_REGISTRY)


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
        return any(isinstance(m, nn.Dropout) and m.p > 0 for m in self.modules())

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.embed((x - self.mean) / self.std)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.backbone.classify(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))


class SmallCNN(nn.Module):
    """Two conv blocks (conv-norm-ReLU ×2, max-pool) and a two-layer head."""

    def __init__(self, in_chans: int, num_classes: int, hw: tuple[int, int], width: int = 32,
                 hidden: int = 128, dropout: float = 0.0, norm: str = "batch"):
        super().__init__()

        def block(cin, cout):
            def norm_layer(c):
                if norm == "batch":
                    return nn.BatchNorm2d(c)
                if norm == "group":  # Opacus (DP-SGD) cannot use BatchNorm
                    return nn.GroupNorm(min(8, c), c)
                return nn.Identity()

            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1), norm_layer(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1), norm_layer(cout), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )

        self.features = nn.Sequential(block(in_chans, width), block(width, 2 * width), nn.Flatten())
        flat = 2 * width * (hw[0] // 4) * (hw[1] // 4)
        self.pre = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.head = nn.Linear(hidden, num_classes)

    def embed(self, x):
        return self.pre(self.features(x))

    def classify(self, f):
        return self.head(f)


class TimmBackbone(nn.Module):
    """Adapts a timm model: ``embed`` = pre-logits features, ``classify`` = its classifier.

    Dropout sits in an ``nn.Dropout`` module on the features (timm's own ``drop_rate``
    is functional in some models), so MC-Dropout can switch it on by itself.
    """

    def __init__(self, model: nn.Module, dropout: float = 0.0):
        super().__init__()
        self.model = model
        self.drop = nn.Dropout(dropout)

    def embed(self, x):
        return self.drop(self.model.forward_head(self.model.forward_features(x), pre_logits=True))

    def classify(self, f):
        return self.model.get_classifier()(f)


def _options(name: str, options: dict, allowed: set[str]) -> dict:
    unknown = set(options) - allowed - {"mean", "std"}
    if unknown:
        raise AdvlabError(f"model {name!r}: unknown option(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    return {k: v for k, v in options.items() if k in allowed}


@register("small_cnn")
def small_cnn(input_shape, num_classes, **options) -> nn.Module:
    o = _options("small_cnn", options, {"width", "hidden", "dropout", "norm"})
    return SmallCNN(input_shape[0], num_classes, input_shape[1:], **o)


@register("resnet")
def resnet(input_shape, num_classes, width: int = 16, layers=(1, 1, 1, 1), dropout: float = 0.0, **options):
    """A timm ResNet (BasicBlock) with a small-image stem: 3×3 stride-1 conv, no max-pool."""
    _options("resnet", options, set())
    from timm.models.resnet import BasicBlock, ResNet

    channels = tuple(width * 2**i for i in range(len(layers)))
    model = ResNet(BasicBlock, list(layers), num_classes=num_classes, in_chans=input_shape[0],
                   stem_type="deep", stem_width=width // 2, channels=channels)
    # ImageNet's 7×7/2 stem and max-pool would shrink a 28×28 image to 7×7 before stage 1.
    # The "deep" stem type makes the stem output 2·stem_width = width channels, which the
    # single 3×3 conv below then provides.
    model.conv1 = nn.Conv2d(input_shape[0], width, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return TimmBackbone(model, dropout)


@register("vit")
def vit(input_shape, num_classes, patch_size: int = 4, embed_dim: int = 64, depth: int = 4,
        num_heads: int = 4, mlp_ratio: float = 2.0, dropout: float = 0.0, **options):
    """A timm VisionTransformer with a small-image patch size (4×4 patches on 28×28)."""
    _options("vit", options, set())
    from timm.models.vision_transformer import VisionTransformer

    h, w = input_shape[1:]
    if h % patch_size or w % patch_size:
        raise AdvlabError(f"vit: patch_size {patch_size} must divide the image size {h}×{w}")
    model = VisionTransformer(img_size=(h, w), patch_size=patch_size, in_chans=input_shape[0],
                              num_classes=num_classes, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                              mlp_ratio=mlp_ratio, global_pool="avg", class_token=False)
    return TimmBackbone(model, dropout)


def capabilities(arch: str, options: dict) -> dict[str, bool]:
    """What params checks ask of an architecture with ``options``, without building it:
    ``batchnorm`` (DP-SGD cannot train it), ``dropout`` (MC-Dropout needs it), ``selective``
    (a SelectiveNet head)."""
    opts = dict(options)
    if arch == "selectivenet":
        base = opts.pop("base", "small_cnn")
        opts.pop("selector_hidden", None)
        return {**capabilities(base, opts), "batchnorm": True, "selective": True}
    norm_is_batch = {"small_cnn": opts.get("norm", "batch") == "batch", "resnet": True}.get(arch, False)
    return {"batchnorm": norm_is_batch, "dropout": float(opts.get("dropout", 0.0) or 0.0) > 0, "selective": False}


def build_model(name: str, input_shape, num_classes: int, **options) -> Classifier:
    """Build a zoo model by name; ``mean``/``std`` options set the inside normalisation.

    Models are built in the channels-last memory format: with this CPU's oneDNN kernels it
    runs the small CNN about 2x faster in inference (max-pooling 10x) and 1.3x in training,
    and the ResNet 1.2-1.5x, with the same outputs up to float rounding
    (``benchmarks/inference_layout.py``). Inputs stay NCHW; checkpoints store contiguous
    tensors and ``load_state_dict`` copies them into this layout."""
    if name not in _REGISTRY:
        raise AdvlabError(f"unknown model {name!r}; the zoo has {', '.join(available())}")
    mean, std = options.pop("mean", None), options.pop("std", None)
    try:
        backbone = _REGISTRY[name](tuple(input_shape), int(num_classes), **options)
    except TypeError as err:
        raise AdvlabError(f"model {name!r}: bad options {options} ({err})") from None
    return Classifier(backbone, input_shape[0], mean, std).to(memory_format=torch.channels_last)


# Architectures defined in other modules register themselves on import; list them here.
from advlab.models import uncertainty as _uncertainty  # noqa: E402,F401  (selectivenet)
