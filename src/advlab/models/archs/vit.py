"""``vit``: a timm VisionTransformer with a small-image patch size."""

from __future__ import annotations

from advlab.errors import AdvlabError
from advlab.models.archs.timm_backbone import TimmBackbone
from advlab.models.registry import MODELS


@MODELS.register("vit", options=("patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio", "dropout"))
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
