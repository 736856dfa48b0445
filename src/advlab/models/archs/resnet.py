"""``resnet``: a timm ResNet (BasicBlock) with a small-image stem."""

from __future__ import annotations

from torch import nn

from advlab.models.archs.timm_backbone import TimmBackbone
from advlab.models import options as opt
from advlab.models.registry import MODELS


def check(options: dict, input_shape=None) -> list[str]:
    """``width`` >= 2 (the stem is ``width // 2`` wide), ``layers`` blocks per stage, ``dropout``."""
    return (opt.unknown(options, ("width", "layers", "dropout")) + opt.int_at_least(options, "width", 2)
            + opt.int_list(options, "layers") + opt.dropout(options))


@MODELS.register("resnet", options=("width", "layers", "dropout"), check=check,
                 capabilities=lambda o: {"batchnorm": True})
def resnet(input_shape, num_classes, width: int = 16, layers=(1, 1, 1, 1), dropout: float = 0.0):
    """A timm ResNet (BasicBlock) with a small-image stem: 3×3 stride-1 conv, no max-pool."""
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
