"""Tiny models on scikit-learn's 8×8 digits, trained once per session in a few seconds."""

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn


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


def train(model: nn.Module, x, y, epochs: int = 30, lr: float = 3e-3, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            j = perm[i:i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[j]), y[j]).backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def digits():
    torch.set_num_threads(1)
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(x), generator=g)
    tr, te = perm[:1300], perm[1300:]
    return x[tr], y[tr], x[te], y[te]


@pytest.fixture(scope="session")
def cnn(digits):
    xtr, ytr, _, _ = digits
    return train(small_cnn(0), xtr, ytr, epochs=15)


@pytest.fixture(scope="session")
def surrogate(digits):
    xtr, ytr, _, _ = digits
    return train(mlp(1), xtr, ytr, epochs=30)


@pytest.fixture(scope="session")
def batch(digits):
    """Test images: 200 of the held-out set."""
    _, _, xte, yte = digits
    return xte[:200], yte[:200]
