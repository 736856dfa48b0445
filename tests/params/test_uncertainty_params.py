"""The uncertainty section of params (SPEC §4): defaults valid, and every bad input names
its key; the SelectiveNet and MC-Dropout checks ask the zoo's capabilities."""

import copy

import pytest

from advlab.errors import AdvlabError
from advlab.params import validate
from advlab.profiles import resolve


def _params(**over):
    raw = resolve("default")
    for k in ("evasion", "calibration", "membership"):  # other families' sections are not under test here
        raw.pop(k, None)
    u = copy.deepcopy(raw["uncertainty"])
    for k, v in over.items():
        if k.startswith("models."):
            _, name, *path = k.split(".")
            d = raw["models"][name]
            for p in path[:-1]:
                d = d.setdefault(p, {})
            d[path[-1]] = v
        elif k.startswith("run."):
            u["run"][k[4:]] = v
        else:
            u[k] = v
    raw["uncertainty"] = u
    return raw


def test_default_params_are_valid():
    p = validate(_params())
    assert p.uncertainty.ensemble and p.uncertainty.selectivenet


@pytest.mark.parametrize("over,match", [
    ({"run.coverages": [0.5, 1.2]}, r"uncertainty.run.coverages.*\(0, 1\]"),
    ({"run.coverages": [0.0, 0.5]}, r"uncertainty.run.coverages.*\(0, 1\]"),
    ({"models.cnn_sel.train.objective_options.coverage": 1.5}, r"models.cnn_sel.train.objective_options.coverage"),
    ({"models.cnn_sel.train.objective_options.coverage": 0}, r"target coverage must be in \(0, 1\]"),
    ({"mc_dropout_T": 0}, r"uncertainty.mc_dropout_T.*T >= 1"),
    ({"ensemble": []}, r"uncertainty.ensemble.*M >= 1"),
    ({"mc_dropout": ["resnet"]}, r"uncertainty.mc_dropout: model 'resnet' has no dropout"),
    ({"selectivenet": ["cnn"]}, r"uncertainty.selectivenet: model 'cnn' has arch 'small_cnn'"),
    ({"softmax": ["cnn", "nope"]}, r"uncertainty.softmax.1: model 'nope' is not under models"),
    ({"proxy": "cnn"}, r"also uncertainty.proxy"),
    ({"run.eps": [0.0]}, r"uncertainty.run.eps"),
])
def test_bad_input_names_the_key(over, match):
    with pytest.raises(AdvlabError, match=match):
        validate(_params(**over))


def test_selectivenet_is_a_capability_not_an_arch_name():
    from advlab.models.zoo import capabilities

    assert capabilities("selectivenet", {"base": "resnet"})["selective"]
    assert not capabilities("small_cnn", {})["selective"]
    with pytest.raises(AdvlabError, match=r"uncertainty.selectivenet: model 'cnn_sel' has arch 'selectivenet' and "
                                          r"objective 'standard'"):
        validate(_params(**{"models.cnn_sel.train.objective": "standard"}))
