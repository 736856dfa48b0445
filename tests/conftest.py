import os

import pytest
import torch

from tests.zoo import digits_split, tiny_models  # noqa: F401  (session fixtures: zoo models on digits)

os.environ.setdefault("CI", "true")  # no progress bars in test output
torch.set_num_threads(min(2, torch.get_num_threads()))


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
