"""The adapter of timm models to the zoo's ``embed``/``classify`` backbone interface."""

from __future__ import annotations

from torch import nn


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
