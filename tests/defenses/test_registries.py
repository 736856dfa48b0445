"""The defenses' registries: POSTHOC (calibration.targets.*.posthoc) and DETECTORS
(calibration/evasion detection); one registration per defense, looked up by name."""

import pytest
import torch

from advlab.defenses.detection_eval import evaluate_detectors
from advlab.defenses.detectors import DETECTORS, FeatureSqueezingDetector, LIDDetector, MahalanobisDetector, make_detector
from advlab.defenses.posthoc import POSTHOC, CompressionScaling, defended
from advlab.defenses.transforms import BitDepthReduction, MedianFilter
from advlab.errors import AdvlabError
from advlab.models.estimators import Softmax, TemperatureScaled


def test_posthoc_registry_names_and_unknown_name():
    assert POSTHOC.names() == ["compression_scaling", "none", "temperature"]
    with pytest.raises(AdvlabError, match="'platt'.*compression_scaling"):
        defended(torch.nn.Identity(), "platt", None, None, 8)


def test_defended_builds_each_posthoc_defense(tiny_model, digits):
    xv, yv = digits["x_test"][:300], digits["y_test"][:300]
    x = digits["x_test"][300:340]
    module, extra = defended(tiny_model, "none", xv, yv, 128)
    assert isinstance(module, Softmax) and extra == {}
    module, extra = defended(tiny_model, "temperature", xv, yv, 128)
    assert isinstance(module, TemperatureScaled) and extra["temperature"] == float(module.temperature) > 0
    module, extra = defended(tiny_model, "compression_scaling", xv, yv, 128)
    assert isinstance(module, CompressionScaling) and extra == {}
    with torch.no_grad():  # every post-hoc defense keeps every prediction
        for name in POSTHOC.names():
            m, _ = defended(tiny_model, name, xv, yv, 128)
            assert torch.equal(m(x).argmax(1), tiny_model(x).argmax(1))


def test_detector_registry_builds_each_detector_from_the_shared_options():
    assert DETECTORS.names() == ["feature_squeezing", "lid", "mahalanobis"]
    opts = {"squeeze_bits": 3, "median": 3, "lid_k": 5, "lid_reference": 50, "seed": 7}
    fs = make_detector("feature_squeezing", **opts)
    assert isinstance(fs, FeatureSqueezingDetector)
    assert isinstance(fs.squeezers[0], BitDepthReduction) and isinstance(fs.squeezers[1], MedianFilter)
    lid = make_detector("lid", **opts)
    assert isinstance(lid, LIDDetector) and (lid.k, lid.reference_size, lid.seed) == (5, 50, 7)
    assert isinstance(make_detector("mahalanobis", **opts), MahalanobisDetector)
    with pytest.raises(AdvlabError, match="'knn'.*mahalanobis"):
        make_detector("knn")
    with pytest.raises(AdvlabError, match="lidk"):
        make_detector("lid", lidk=3)


def test_evaluate_detectors_defaults_to_every_registered_detector(tiny_model, digits):
    x_fit, y_fit = digits["x_train"][:200], digits["y_train"][:200]
    x = digits["x_test"][:60]
    adv = {"noise": (x + 0.5 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)}
    rows = evaluate_detectors(tiny_model, x_fit, y_fit, x, adv, lid_k=5, lid_reference=100)
    assert [r["detector"] for r in rows] == DETECTORS.names()
    assert all(r["n_clean"] == 60 and r["n_adv"] == 60 and 0.0 <= r["auroc"] <= 1.0 for r in rows)
