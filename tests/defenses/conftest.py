"""A tiny classifier on scikit-learn's digits (8×8, 10 classes), trained once per session."""

import pytest
import torch
from torch import nn


class TinyNet(nn.Module):
    """The zoo convention in miniature: [0,1] images in, normalised inside, embed/classify."""

    def __init__(self, hidden: int = 32, num_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)
        self.has_dropout = False
        self.feature_dim, self.num_classes = hidden, num_classes

    def embed(self, x):
        return self.body((x - 0.5) / 0.5)

    def classify(self, f):
        return self.head(f)

    def forward(self, x):
        return self.classify(self.embed(x))


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return {"x_train": x[:1200], "y_train": y[:1200], "x_test": x[1200:], "y_test": y[1200:]}


@pytest.fixture(scope="session")
def tiny_model(digits):
    torch.manual_seed(0)
    model = TinyNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = digits["x_train"], digits["y_train"]
    for _ in range(80):  # full batch, a few seconds on one core
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(digits["x_test"]).argmax(1) == digits["y_test"]).float().mean()
    assert acc > 0.9, f"the test fixture model should learn digits, got accuracy {acc:.3f}"
    return model
