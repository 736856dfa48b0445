"""The reusable detection evaluation (several detectors × several attacks) on a tiny digits model."""

import pytest
import torch
import torch.nn.functional as F

from advlab.defenses.detection_eval import DETECTORS, evaluate_detectors, make_detector
from advlab.errors import AdvlabError
from advlab.models.zoo import build_model


@pytest.fixture(scope="module")
def data():
    from advlab.data.sources import load_dataset

    digits = load_dataset("digits")  # the dataset itself (this folder's `digits` fixture is a split)
    x = torch.from_numpy(digits.images[:400]).float() / 255.0
    y = torch.from_numpy(digits.labels[:400]).long()
    return x, y


@pytest.fixture(scope="module")
def model(data):
    x, y = data
    torch.manual_seed(0)
    m = build_model("small_cnn", (1, 8, 8), 10, width=8, hidden=32)
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    for _ in range(25):
        for i in range(0, len(x), 100):
            loss = F.cross_entropy(m(x[i:i + 100]), y[i:i + 100])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return m.eval()


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
