"""Training-set poisoning (SPEC §2): label flipping and BadNets, as a registry of poisoners.

Each poisoner takes the clean training set and a rate and returns ``(x_poisoned,
y_poisoned, poisoned_indices)``; the sweep that trains one model per rate is
:func:`advlab.study.poisoning.poison_sweep`.

* ``label_flip``: a fraction ρ of the training labels is replaced by a uniformly drawn
  *other* class;
* ``backdoor`` (BadNets, Gu et al. 2017): a ``patch_size × patch_size`` patch of value
  ``patch_value`` is stamped in the bottom-right corner of a fraction ρ of the training
  images, which are relabelled to ``target_class``; metadata ``triggered=True``: the sweep
  also reports the attack success rate on triggered test images.

Adding a poisoning attack: one function with its ``POISONINGS.register`` line (its rates
are read from ``evasion.poisoning.<kind>_rates``).
"""

from __future__ import annotations

import numpy as np
import torch

from advlab.registry import Registry

#: poisoners by kind: ``fn(x, y, rate, generator, *, num_classes, target_class, patch_size,
#: patch_value) -> (x, y, idx)``; metadata ``triggered`` (a backdoor with a test-time trigger)
POISONINGS = Registry("poisoning")


def flip_labels(y: torch.Tensor, rate: float, num_classes: int, generator: torch.Generator) -> tuple[torch.Tensor, np.ndarray]:
    """Replace the labels of ``round(rate·n)`` random examples by a different random class."""
    n = len(y)
    idx = torch.randperm(n, generator=generator)[: round(rate * n)]
    shift = torch.randint(1, num_classes, (len(idx),), generator=generator)
    out = y.clone()
    out[idx] = (y[idx] + shift) % num_classes
    return out, idx.numpy()


def stamp(x: torch.Tensor, size: int, value: float) -> torch.Tensor:
    """The BadNets trigger: a solid square in the bottom-right corner (all channels)."""
    out = x.clone()
    out[..., -size:, -size:] = value
    return out


def backdoor(x: torch.Tensor, y: torch.Tensor, rate: float, target: int, size: int, value: float,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Stamp the trigger on ``round(rate·n)`` random training images and relabel them ``target``."""
    idx = torch.randperm(len(y), generator=generator)[: round(rate * len(y))]
    xp, yp = x.clone(), y.clone()
    xp[idx] = stamp(x[idx], size, value)
    yp[idx] = target
    return xp, yp, idx.numpy()


@POISONINGS.register("label_flip", triggered=False)
def label_flip(x, y, rate, generator, *, num_classes, **_):
    yp, idx = flip_labels(y, rate, num_classes, generator)
    return x, yp, idx


@POISONINGS.register("backdoor", triggered=True)
def badnets(x, y, rate, generator, *, target_class, patch_size, patch_value, **_):
    return backdoor(x, y, rate, target_class, patch_size, patch_value, generator)


__all__ = ["POISONINGS", "flip_labels", "stamp", "backdoor", "label_flip", "badnets"]
