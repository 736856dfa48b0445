"""Issue 4, bad input: thresholds outside (0, 1), a target confidence below 1/K, an unknown
objective or defense name fail with a message naming them, before any work."""

import copy
from pathlib import Path

import pytest
import torch

from advlab.attacks import run_attack
from advlab.errors import AdvlabError
from advlab.params import validate
from advlab.profiles import resolve
from advlab.training.objectives import make_objective

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


@pytest.mark.parametrize("params,words", [
    ({"objective": "underconfidence", "tau_u": 1.5}, ["tau_u=1.5", "between 0 and 1"]),
    ({"objective": "overconfidence", "tau_o": 0.05}, ["tau_o=0.05", "1/K"]),
    ({"objective": "random_confidence", "tolerance": 0.0}, ["tolerance=0.0"]),
    ({"objective": "sideways"}, ["objective='sideways'"]),
])
def test_engine_rejects_bad_thresholds_before_any_query(params, words):
    calls = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            calls.append(len(x))
            return torch.zeros(len(x), 10)

    x, y = torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)
    with pytest.raises(AdvlabError) as err:
        run_attack("square", Spy(), x, y, n_queries=5, **params)
    for w in words:
        assert w in str(err.value)
    # thresholds that need K (tau_o vs 1/K) are checked after the one clean query, never later
    assert sum(calls) <= len(x)


@pytest.mark.parametrize("options,word", [({"clean_weight": -1.0}, "clean_weight"), ({"tau_u": 2.0}, "tau_u"),
                                          ({"eps": 0.0}, "eps"), ({"bogus": 1}, "bogus")])
def test_caat_options_are_checked(options, word):
    with pytest.raises(AdvlabError) as err:
        make_objective("caat", **options)
    assert word in str(err.value)


def test_stage_rejects_unknown_target_and_command(tmp_path, monkeypatch, default):
    import yaml

    from advlab.stages import calibration

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(default))
    monkeypatch.setenv("ADVLAB_PARAMS", str(path))
    monkeypatch.chdir(tmp_path)  # no data here: the error must come before any loading
    assert calibration.main(["target", "nonexistent"]) == 2
    assert calibration.main(["attack", "alexnet"]) == 2
    assert calibration.main(["frobnicate"]) == 2
