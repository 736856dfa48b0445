import os

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs 2 workers on 2 cores: one torch thread each
    os.environ["OMP_NUM_THREADS"] = "1"

import pytest
import torch

from tests.zoo import digits_split, tiny_models  # noqa: F401  (session fixtures: zoo models on digits)

os.environ.setdefault("CI", "true")  # no progress bars in test output
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, torch.get_num_threads()))

FIRST = "tests/stages/test_pipeline.py"  # the longest file (one real dvc repro): started first, the rest beside it


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))  # stable: the order within each group stays


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits as the tiny dataset of the tests."""
    from advlab.data.sources import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="module")
def digits_trained():
    """``(model, (x, y))``: a tiny CNN trained on the first 400 digits, one per test module
    (tests may switch its mode or accumulate gradients)."""
    from tests.tiny import digits_cnn

    return digits_cnn()
