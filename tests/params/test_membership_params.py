"""The membership section of params: errors name the key; attack names come from the registry."""

import pytest

from advlab.errors import AdvlabError
from advlab.params import MiaAttackParams, validate
from tests.mia_params import params


def test_bad_params_name_the_key():
    bad_fpr = params(attack={"fprs": [0.0, 0.01]})
    with pytest.raises(AdvlabError, match=r"membership\.attack\.fprs.*strictly between 0 and 1"):
        validate(bad_fpr)
    with pytest.raises(AdvlabError, match=r"membership\.attack\.fprs"):
        validate(params(attack={"fprs": [1.5]}))
    too_many = params(attack={"rmia_references": [1, 3]})
    with pytest.raises(AdvlabError, match=r"rmia_references asks for 3 reference models.*trains only 2"):
        validate(too_many)
    bn_dp = params(targets={"dp": {"dp": {"epsilon": 1.0}}})
    with pytest.raises(AdvlabError, match=r"BatchNorm.*norm: group"):
        validate(bn_dp)
    with pytest.raises(AdvlabError, match=r"shadow_models.*even"):
        raw = params()
        raw["split"]["shadow_models"] = 3
        validate(raw)


def test_attack_names_are_validated_against_the_registry():
    from advlab.attacks.membership import MIA_ATTACKS

    assert MiaAttackParams().attacks is None  # default: every registered attack
    assert MiaAttackParams(attacks=["loss", "rmia_offline"]).attacks == ["loss", "rmia_offline"]
    with pytest.raises(AdvlabError, match=r"membership\.attack\.attacks.*unknown: \['nosuch'\].*registered: .*loss"):
        validate(params(attack={"attacks": ["loss", "nosuch"]}))
    with pytest.raises(AdvlabError, match=r"membership\.attack\.attacks"):
        validate(params(attack={"attacks": ["loss", "loss"]}))
    assert set(MIA_ATTACKS.names()) >= {"loss", "lira_online", "rmia_offline"}


def test_rmia_reference_counts_are_only_checked_when_rmia_offline_runs():
    validate(params(attack={"attacks": ["loss"], "rmia_references": [1, 3]}))
    with pytest.raises(AdvlabError, match=r"rmia_references asks for 3"):
        validate(params(attack={"attacks": None, "rmia_references": [3]}))


def test_dp_target_in_bf16_is_refused_at_validation():
    raw = params()
    raw["membership"]["recipe"]["train"]["precision"] = "bf16"
    with pytest.raises(AdvlabError, match=r"membership\.targets\.dp_eps2\.train\.precision: DP-SGD trains in fp32 only"):
        validate(raw)


def test_queries_default_to_the_recipe_augmentations():
    from advlab.study.membership import queries

    def resolved(**membership):
        return queries(validate(params(**membership)))

    # tests.mia_params' recipe inherits models.cnn's augment: [] -> identity only; digits are 8 px: crop pad 1
    assert validate(params(queries=None)).membership.queries is None
    assert resolved(queries=None) == ["id"]
    both = {"options": {"width": 4, "hidden": 16}, "train": {"epochs": 1, "augment": ["crop", "hflip"]}}
    assert resolved(queries=None, recipe=both) == [
        "id", "flip", "shift:1:0", "shift:-1:0", "shift:0:1", "shift:0:-1",
        "flip+shift:1:0", "flip+shift:-1:0", "flip+shift:0:1", "flip+shift:0:-1"]
    assert resolved(queries=None, recipe={"train": {"epochs": 1, "augment": ["hflip"]}}) == ["id", "flip"]
    # a target variant's own augment does not change the attacker's queries (the shadows' recipe does)
    no_aug = {"base": {"role": "baseline"}, "no_augment": {"role": "ablation", "train": {"augment": []}}}
    assert resolved(queries=None, recipe=both, targets=no_aug)[:2] == ["id", "flip"]
    # an explicit list overrides the derivation
    assert resolved(queries=["id", "shift:2:0"], recipe=both) == ["id", "shift:2:0"]


@pytest.mark.parametrize("bad, what", [(["id", "zoom"], "unknown query 'zoom'"), (["shift:1"], "unknown query"),
                                       ([], "at least one query"), (["id", "id"], "each query once")])
def test_bad_queries_are_one_line_naming_the_key(bad, what):
    with pytest.raises(AdvlabError) as err:
        validate(params(queries=bad))
    lines = [ln.strip() for ln in str(err.value).splitlines() if "membership.queries" in ln]
    assert len(lines) == 1 and what in lines[0], str(err.value)  # the key and the problem on one line
