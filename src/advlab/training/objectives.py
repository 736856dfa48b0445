"""Training objectives: ``objective(model, x, y) -> scalar loss``, one registry.

The training loop is shared; an objective is the only thing a new training recipe
(adversarial, TRADES, CAAT, noise, SelectiveNet, ...) needs to add: a factory
``f(**options) -> Objective`` registered with ``@TRAIN_OBJECTIVES.register(name)`` in its
own module, and that module listed in :mod:`advlab.training.recipes`.

The registry is filled on first lookup (``package="advlab.training.recipes"``), not at
import time: the recipes pull in the attack engine and scipy, which every stage would
otherwise pay for at start-up.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from advlab.errors import AdvlabError
from advlab.registry import Registry

__all__ = ["Objective", "TRAIN_OBJECTIVES", "available", "make_objective", "standard"]

Objective = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
TRAIN_OBJECTIVES = Registry("training objective", package="advlab.training.recipes")


@TRAIN_OBJECTIVES.register("standard")
def standard(label_smoothing: float = 0.0) -> Objective:
    """Cross-entropy, optionally with label smoothing (Szegedy et al. 2016)."""

    def loss(model, x, y):
        return F.cross_entropy(model(x), y, label_smoothing=label_smoothing)

    return loss


def available() -> list[str]:
    """The registered training objectives' names (what ``models.<m>.train.objective`` accepts)."""
    return TRAIN_OBJECTIVES.names()


def make_objective(name: str, **kwargs) -> Objective:
    """Build a registered objective; a bad option is an error naming it."""
    if name not in TRAIN_OBJECTIVES:
        raise AdvlabError(f"unknown training objective {name!r}; known: {', '.join(available())}")
    try:
        return TRAIN_OBJECTIVES.get(name)(**kwargs)
    except TypeError as err:
        raise AdvlabError(f"training objective {name!r}: bad options {sorted(kwargs)} ({err})") from None
