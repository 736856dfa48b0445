"""Tiny data and a tiny training loop shared by the test packages: scikit-learn's 8×8
digits as [0, 1] tensors, and a seeded mini-batch fit."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch import nn


def digits_split(n_train: int, n_test: int | None = None, seed: int = 0):
    """(x_train, y_train, x_test, y_test) from a seeded permutation of the 1797 digits."""
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    tr, te = perm[:n_train], perm[n_train:None if n_test is None else n_train + n_test]
    return x[tr], y[tr], x[te], y[te]


def cross_entropy(model, x, y):
    return nn.functional.cross_entropy(model(x), y)


def fit(model: nn.Module, x, y, loss=cross_entropy, epochs: int = 30, lr: float = 3e-3, seed: int = 0,
        batch_size: int = 128) -> nn.Module:
    """Adam on ``loss(model, xb, yb)``, reshuffled each epoch; returns the model in eval mode."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            j = perm[i:i + batch_size]
            opt.zero_grad()
            loss(model, x[j], y[j]).backward()
            opt.step()
    return model.eval()


def digits_cnn(n: int = 400):
    """``(model, (x, y))``: a width-8 small CNN trained (25 in-order Adam epochs) on the first
    ``n`` digits, in eval mode; each caller gets its own copy."""
    from advlab.data.sources import load_dataset
    from advlab.models.zoo import build_model

    digits = load_dataset("digits")
    x = torch.from_numpy(digits.images[:n]).float() / 255.0
    y = torch.from_numpy(digits.labels[:n]).long()
    torch.manual_seed(0)
    m = build_model("small_cnn", (1, 8, 8), 10, width=8, hidden=32)
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    for _ in range(25):
        for i in range(0, len(x), 100):
            loss = nn.functional.cross_entropy(m(x[i:i + 100]), y[i:i + 100])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return m.eval(), (x, y)
