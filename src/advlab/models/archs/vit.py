"""``vit``: a timm VisionTransformer with a small-image patch size."""

from __future__ import annotations

from advlab.errors import AdvlabError
from advlab.models.archs.timm_backbone import TimmBackbone
from advlab.models import options as opt
from advlab.models.registry import MODELS

OPTIONS = ("patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio", "dropout")


def check(options: dict, input_shape=None) -> list[str]:
    """Every option; ``num_heads`` must divide ``embed_dim`` and ``patch_size`` the image size."""
    problems = (opt.unknown(options, OPTIONS) + opt.int_at_least(options, "patch_size")
                + opt.int_at_least(options, "embed_dim") + opt.int_at_least(options, "depth")
                + opt.int_at_least(options, "num_heads") + opt.positive(options, "mlp_ratio") + opt.dropout(options))
    if problems:
        return problems
    embed_dim, heads = options.get("embed_dim", 64), options.get("num_heads", 4)
    if embed_dim % heads:
        problems.append(f"num_heads: must divide embed_dim {embed_dim} (got {heads})")
    patch = options.get("patch_size", 4)
    if input_shape is not None and (input_shape[1] % patch or input_shape[2] % patch):
        problems.append(f"patch_size: patch_size {patch} must divide the image size {input_shape[1]}x{input_shape[2]}")
    return problems


@MODELS.register("vit", options=OPTIONS, check=check)
def vit(input_shape, num_classes, patch_size: int = 4, embed_dim: int = 64, depth: int = 4,
        num_heads: int = 4, mlp_ratio: float = 2.0, dropout: float = 0.0):
    """A timm VisionTransformer with a small-image patch size (4×4 patches on 28×28)."""
    from timm.models.vision_transformer import VisionTransformer

    h, w = input_shape[1:]
    if h % patch_size or w % patch_size:
        raise AdvlabError(f"vit: patch_size {patch_size} must divide the image size {h}×{w}")
    model = VisionTransformer(img_size=(h, w), patch_size=patch_size, in_chans=input_shape[0],
                              num_classes=num_classes, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                              mlp_ratio=mlp_ratio, global_pool="avg", class_token=False)
    return TimmBackbone(model, dropout)
