"""``small_cnn``: two conv blocks and a two-layer head (the study's default model)."""

from __future__ import annotations

from torch import nn

from advlab.models import options as opt
from advlab.models.registry import MODELS


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


NORMS = ("batch", "group", "none")


def check(options: dict, input_shape=None) -> list[str]:
    """Every option of :class:`SmallCNN` (``input_shape`` is not needed: any image size works)."""
    return (opt.unknown(options, ("width", "hidden", "dropout", "norm")) + opt.int_at_least(options, "width")
            + opt.int_at_least(options, "hidden") + opt.dropout(options) + opt.one_of(options, "norm", NORMS))


@MODELS.register("small_cnn", options=("width", "hidden", "dropout", "norm"), check=check,
                 capabilities=lambda o: {"batchnorm": o.get("norm", "batch") == "batch"})
def small_cnn(input_shape, num_classes, **options) -> nn.Module:
    return SmallCNN(input_shape[0], num_classes, input_shape[1:], **options)
