"""Tiny models on scikit-learn's 8×8 digits, trained once per session in a few seconds."""

import pytest
import torch
from torch import nn

from tests.tiny import digits_split, fit


class Normalize(nn.Module):
    """Models take [0, 1] images and normalise inside (DESIGN.md conventions)."""

    def __init__(self, mean=0.3, std=0.4):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x):
        return (x - self.mean) / self.std


def small_cnn(seed: int, width: int = 16) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        Normalize(),
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1, stride=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(width * 16, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


@pytest.fixture(scope="session")
def digits():
    torch.set_num_threads(1)
    return digits_split(1300)


@pytest.fixture(scope="session")
def cnn(digits):
    xtr, ytr, _, _ = digits
    return fit(small_cnn(0), xtr, ytr, epochs=15)


@pytest.fixture(scope="session")
def surrogate(digits):
    xtr, ytr, _, _ = digits
    return fit(mlp(1), xtr, ytr, epochs=30)


@pytest.fixture(scope="session")
def batch(digits):
    """Test images: 200 of the held-out set."""
    _, _, xte, yte = digits
    return xte[:200], yte[:200]
