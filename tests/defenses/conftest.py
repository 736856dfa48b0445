"""A tiny classifier on scikit-learn's digits (8×8, 10 classes), trained once per session."""

import pytest
import torch
from torch import nn

from tests.tiny import digits_split


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
    x_train, y_train, x_test, y_test = digits_split(1200)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


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
