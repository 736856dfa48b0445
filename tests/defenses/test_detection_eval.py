"""The reusable detection evaluation (several detectors × several attacks) on a tiny digits model."""

import pytest
import torch

from advlab.defenses.detection_eval import DETECTORS, evaluate_detectors, make_detector
from advlab.errors import AdvlabError


@pytest.fixture(scope="module")
def data(digits_trained):
    return digits_trained[1]


@pytest.fixture(scope="module")
def model(digits_trained):
    return digits_trained[0]


def test_detection_eval_rows_and_separation(model, data):
    x, y = data
    x_fit, y_fit, x_clean = x[:200], y[:200], x[200:300]
    noise = (x_clean + 0.5 * torch.randn_like(x_clean)).clamp(0, 1)  # far off the data: easy to detect
    rows = evaluate_detectors(model, x_fit, y_fit, x_clean, {"noise": noise, "same": x_clean.clone()},
                              lid_k=5, masks={"same": torch.arange(100) < 50})
    assert len(rows) == 6 and {r["detector"] for r in rows} == {"feature_squeezing", "mahalanobis", "lid"}
    by = {(r["detector"], r["attack"]): r for r in rows}
    assert by[("mahalanobis", "noise")]["auroc"] > 0.9
    assert by[("mahalanobis", "same")]["n_adv"] == 50 and abs(by[("mahalanobis", "same")]["auroc"] - 0.5) < 0.2
    with pytest.raises(AdvlabError, match="detector 'odin'"):
        make_detector("odin")


def test_detectors_are_a_registry():
    assert DETECTORS.names() == ["feature_squeezing", "lid", "mahalanobis"]
