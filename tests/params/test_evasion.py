"""Bad input of the evasion family fails in params validation, before any work, naming the key."""

import copy
from pathlib import Path

import pytest

from advlab import params as P
from advlab.errors import AdvlabError
from advlab.profiles import resolve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def raw():
    return resolve("default", ROOT / "profiles")


def bad(raw, edit, *words):
    r = copy.deepcopy(raw)
    edit(r)
    with pytest.raises(AdvlabError) as err:
        P.validate(r, "params")
    for w in words:
        assert w in str(err.value), str(err.value)


def test_default_and_tiny_profiles_are_valid(raw):
    assert P.validate(raw).evasion.models[0] == "cnn"
    assert P.validate(resolve("tiny", ROOT / "profiles")).evasion is not None


def test_eps_outside_the_data_range(raw):
    bad(raw, lambda r: r["evasion"]["attacks"]["pgd40"].update(eps=1.5), "evasion.attacks.pgd40", "eps 1.5",
        "outside the data range")
    bad(raw, lambda r: r["evasion"].update(sweep_eps=[0.1, 2.0]), "evasion.sweep_eps")


def test_unsupported_norm(raw):
    bad(raw, lambda r: r["evasion"]["attacks"]["cw"].update(norm="linf"), "evasion.attacks.cw", "norm 'linf'",
        "not supported by cw")
    bad(raw, lambda r: r["evasion"]["attacks"]["fgsm"].update(norm="l1"), "evasion.attacks.fgsm.norm")


def test_missing_models(raw):
    bad(raw, lambda r: r["evasion"].update(models=["cnn", "nope"]), "evasion.models", "'nope'")
    bad(raw, lambda r: r["evasion"].update(surrogate="missing"), "evasion.surrogate", "'missing'")
    bad(raw, lambda r: r["evasion"]["certify"].update(models=["cnn"]), "evasion.certify.models", "gaussian_noise")
    bad(raw, lambda r: r["evasion"]["poisoning"].update(model="ghost"), "evasion.poisoning.model", "'ghost'")


def test_unknown_defense_attack_and_parameter(raw):
    bad(raw, lambda r: r["evasion"]["defenses"].update(blur={"kind": "blur"}), "evasion.defenses.blur.kind")
    bad(raw, lambda r: r["evasion"]["attacks"].update(zoo={"attack": "zoo", "eps": 0.1}), "evasion.attacks.zoo",
        "'zoo'")
    bad(raw, lambda r: r["evasion"]["attacks"]["square"]["params"].update(queries=5), "queries")
    bad(raw, lambda r: r["evasion"]["detection"].update(attacks=["pgd7"]), "evasion.detection.attacks", "pgd7")
    bad(raw, lambda r: r["evasion"]["poisoning"].update(backdoor_rates=[0.0, 1.0]), "evasion.poisoning.backdoor_rates")


def test_names_are_checked_against_the_registries(raw):
    from advlab.defenses.detection_eval import DETECTORS
    from advlab.defenses.transforms import TRANSFORMS

    bad(raw, lambda r: r["evasion"]["defenses"].update(blur={"kind": "blur"}), "defense kind 'blur'",
        *TRANSFORMS.names())
    bad(raw, lambda r: r["evasion"]["detection"].update(detectors=["odin"]), "evasion.detection.detectors", "odin",
        *DETECTORS.names())
    bad(raw, lambda r: r["evasion"]["attacks"].update(ace={"attack": "ace", "eps": 0.1}), "evasion.attacks.ace",
        "unknown here")  # ACE only has the label-preserving 'ace' objective: not an evasion attack


def test_autoattack_entry_and_bad_values_of_engine_parameters(raw):
    aa = P.validate(raw).evasion.attacks["autoattack"]
    assert aa.attack == "autoattack" and aa.eps == 0.1 and aa.norm == "linf"
    assert aa.models == ["cnn", "cnn_pgdat", "cnn_trades"]
    full = P.validate(resolve("full", ROOT / "profiles")).evasion.attacks["autoattack"]
    assert full.params == {"steps": 100, "n_queries": 5000}  # the paper's settings
    bad(raw, lambda r: r["evasion"]["attacks"]["autoattack"]["params"].update(components=["apgd-ce", "fab-t"]),
        "evasion.attacks.autoattack", "components=['apgd-ce', 'fab-t']", "unknown component(s) ['fab-t']")
    bad(raw, lambda r: r["evasion"]["attacks"]["autoattack"]["params"].update(version="plus"),
        "evasion.attacks.autoattack", "version='plus'")
    bad(raw, lambda r: r["evasion"]["attacks"]["pgd40"]["params"].update(steps=0), "evasion.attacks.pgd40", "steps=0")
