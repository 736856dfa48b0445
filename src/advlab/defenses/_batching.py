"""Run a function over a large tensor in mini-batches without building a graph."""

from __future__ import annotations

from collections.abc import Callable

import torch

from advlab.errors import check


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """``torch.cat([fn(chunk) for chunk in x.split(batch_size)])`` under ``no_grad``."""
    check(isinstance(batch_size, int) and batch_size >= 1, f"batch_size={batch_size!r}: must be an integer >= 1")
    return torch.cat([fn(chunk) for chunk in x.split(batch_size)])


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a parameter-free module)."""
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")
