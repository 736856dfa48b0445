"""Training objectives: ``objective(model, x, y) -> scalar loss``.

The training loop is shared; an objective is the only thing a new training recipe
(adversarial, TRADES, CAAT, noise, SelectiveNet, ...) needs to add.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from advlab.errors import AdvlabError

Objective = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
_REGISTRY: dict[str, Callable[..., Objective]] = {}


def register(name: str):
    def deco(factory):
        _REGISTRY[name] = factory
        return factory

    return deco


@register("standard")
def standard(label_smoothing: float = 0.0) -> Objective:
    """Cross-entropy, optionally with label smoothing (Szegedy et al. 2016)."""

    def loss(model, x, y):
        return F.cross_entropy(model(x), y, label_smoothing=label_smoothing)

    return loss


def available() -> list[str]:
    _load_providers()
    return sorted(_REGISTRY)


def make_objective(name: str, **kwargs) -> Objective:
    """Build a registered objective; a bad option is an error naming it."""
    if name not in _REGISTRY:
        _load_providers()
    if name not in _REGISTRY:
        raise AdvlabError(f"unknown training objective {name!r}; known: {', '.join(available())}")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as err:
        raise AdvlabError(f"training objective {name!r}: bad options {sorted(kwargs)} ({err})") from None


# Objectives defined in other modules register themselves when imported. They are
# imported on first use (not at import time): they pull in the attack engine and
# scipy, which every stage would otherwise pay for at start-up.
_PROVIDERS = (
    "advlab.training.robust",  # pgd_at, trades, gaussian_noise
    "advlab.training.selective",  # selectivenet
    "advlab.training.caat",  # caat
)


def _load_providers() -> None:
    import importlib

    for module in _PROVIDERS:
        importlib.import_module(module)
