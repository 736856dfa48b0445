"""Batched image augmentations on ``[0, 1]`` tensors (no per-sample Python loop).

Also used for the augmented membership queries (flip, small shifts), so training
augmentation and attack queries share one definition.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, pad: int) -> torch.Tensor:
    """Translate each image by its own integer ``(dy, dx)`` in ``[-pad, pad]``, zero fill."""
    b, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    iy = (dy.view(-1, 1) + pad + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    ix = (dx.view(-1, 1) + pad + torch.arange(w, device=x.device)).view(b, 1, 1, w)
    bi = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    ci = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return xp[bi, ci, iy, ix]


def crop_pad(side: int) -> int:
    """The default pad of :func:`random_crop`: 1/8 of the image side (4 px on CIFAR's 32, 3 on 28, 1 on 8).

    The membership family's default LiRA queries shift by exactly this much (``membership.queries: null``).
    """
    return max(1, side // 8)


def random_crop(x: torch.Tensor, pad: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad-and-crop: a random translation of up to ``pad`` pixels per image (default :func:`crop_pad`)."""
    pad = crop_pad(x.shape[-1]) if pad is None else pad
    d = torch.randint(-pad, pad + 1, (2, x.shape[0]), generator=generator, device=x.device)
    return shift(x, d[0], d[1], pad)


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


AUGMENTATIONS = {"crop": random_crop, "hflip": random_hflip}


def augment(x: torch.Tensor, names: list[str]) -> torch.Tensor:
    for name in names:
        x = AUGMENTATIONS[name](x)
    return x
