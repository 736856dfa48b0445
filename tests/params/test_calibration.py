"""Issue 4, bad input: thresholds outside (0, 1), a target confidence below 1/K, an unknown
objective, search, detector or defense name fail with a message naming them, before any work.
Names are checked against the registries (engine objectives, POSTHOC, DETECTORS)."""

import copy
from pathlib import Path

import pytest

from advlab.errors import AdvlabError
from advlab.params import validate
from advlab.profiles import resolve

PROFILES = Path(__file__).resolve().parents[2] / "profiles"


@pytest.fixture(scope="module")
def default():
    return resolve("default", PROFILES)


def with_calibration(raw, **changes):
    raw = copy.deepcopy(raw)
    for path, value in changes.items():
        node = raw["calibration"]
        *parents, leaf = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return raw


def test_default_and_tiny_calibration_sections_are_valid(default):
    p = validate(default)
    assert p.calibration.models == ["cnn", "resnet", "vit"]
    assert {t.model for t in p.calibration.targets.values()} <= set(p.models)
    tiny = resolve("tiny", PROFILES)["calibration"]
    assert set(tiny["models"]) <= set(resolve("tiny", PROFILES)["models"])


@pytest.mark.parametrize("key,value,words", [
    ("thresholds__tau_u", 0.0, ["tau_u", "greater than 0"]),
    ("thresholds__tau_o", 1.0, ["tau_o", "less than 1"]),
    ("thresholds__tolerance", 1.5, ["tolerance"]),
    ("thresholds__tau_o", 0.05, ["tau_o", "1/K"]),
    ("attack__objectives", ["underconfidence", "sideways"], ["objectives", "sideways"]),
    ("attack__searches", ["square_l3"], ["searches", "square_l3"]),
    ("targets__bogus", {"model": "cnn", "posthoc": "dropout_magic"}, ["targets.bogus.posthoc", "dropout_magic"]),
    ("targets__bogus", {"model": "cnn", "posthoc": "platt"}, ["targets.bogus.posthoc", "platt", "compression_scaling"]),
    ("detection__detectors", ["lid", "knn"], ["calibration.detection.detectors", "knn", "mahalanobis"]),
    ("sweep__eps_searches", ["square_l2"], ["calibration.sweep.eps_searches", "square_l2", "pgd_linf"]),
    ("sweep__objectives", ["margin"], ["calibration.sweep.objectives", "margin", "underconfidence"]),
    ("target_searches", ["pgd_l3"], ["calibration.target_searches", "pgd_l3"]),
    ("attack__standard", ["hsja_l2"], ["calibration.attack.standard", "hsja_l2"]),
    ("targets__ghost", {"model": "no_such_model"}, ["calibration.targets.ghost.model", "no_such_model"]),
    ("models", ["cnn", "alexnet"], ["calibration.models", "alexnet"]),
    ("sweep__model", "alexnet", ["calibration.sweep.model"]),
    ("n_eval", 10**6, ["n_eval", "attack_eval"]),
])
def test_bad_calibration_params_name_the_key(default, key, value, words):
    with pytest.raises(AdvlabError) as err:
        validate(with_calibration(default, **{key: value}))
    msg = str(err.value)
    for w in words:
        assert w in msg, f"{w!r} not in: {msg}"
