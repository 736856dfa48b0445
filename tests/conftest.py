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
