from pathlib import Path

import pytest
import yaml

from advlab import params as P
from advlab import profiles
from advlab.cli import main as cli
from advlab.errors import AdvlabError

ROOT = Path(__file__).resolve().parents[2]


def default_raw():
    return yaml.safe_load((ROOT / "profiles" / "default.yaml").read_text())


@pytest.mark.parametrize("name", ["default", "tiny", "full"])
def test_every_profile_validates(name):
    raw = profiles.resolve(name, ROOT / "profiles")
    p = P.validate(raw, name)
    assert p.models


def test_committed_params_is_the_default_profile():
    assert (ROOT / "params.yaml").read_text() == (ROOT / "profiles" / "default.yaml").read_text()


def test_full_profile_is_paper_scale():
    full = P.validate(profiles.resolve("full", ROOT / "profiles"))
    assert full.split.shadow_models == 64 and full.data.dataset == "cifar10"


def _error(raw) -> str:
    with pytest.raises(AdvlabError) as err:
        P.validate(raw, "params.yaml")
    return str(err.value)


def test_unknown_key_is_named():
    raw = default_raw()
    raw["models"]["cnn"]["train"]["epoch"] = 3
    msg = _error(raw)
    assert "models.cnn.train.epoch" in msg and "unknown key" in msg


def test_wrong_type_names_key_and_value():
    raw = default_raw()
    raw["models"]["cnn"]["train"]["lr"] = "fast"
    msg = _error(raw)
    assert "models.cnn.train.lr" in msg and "'fast'" in msg


def test_out_of_range_names_allowed_range():
    raw = default_raw()
    raw["models"]["vit"]["train"]["epochs"] = 0
    msg = _error(raw)
    assert "models.vit.train.epochs" in msg and "greater than or equal to 1" in msg


def test_odd_shadow_count_and_unknown_arch():
    raw = default_raw()
    raw["split"]["shadow_models"] = 7
    raw["models"]["cnn"]["arch"] = "resnet999"
    msg = _error(raw)
    assert "split.shadow_models" in msg and "even" in msg
    assert "models.cnn.arch" in msg and "resnet999" in msg


def test_bad_choice_lists_choices():
    raw = default_raw()
    raw["data"]["dataset"] = "mnist"
    msg = _error(raw)
    assert "data.dataset" in msg and "fashion_mnist" in msg


def test_check_params_command(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text((ROOT / "params.yaml").read_text())
    assert cli(["check-params", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [unclosed\n")
    assert cli(["check-params", str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert cli(["check-params", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_profile_switch_writes_valid_params(tmp_path):
    target = tmp_path / "params.yaml"
    profiles.switch("tiny", target, ROOT / "profiles")
    assert P.load(target).data.dataset == "digits"
    profiles.switch("default", target, ROOT / "profiles")
    assert target.read_text() == (ROOT / "profiles" / "default.yaml").read_text()
    with pytest.raises(AdvlabError, match="unknown profile 'huge'"):
        profiles.switch("huge", target, ROOT / "profiles")


def test_stage_prints_one_line_for_user_errors(tmp_path, monkeypatch, capsys):
    from advlab.stages import prepare

    bad = tmp_path / "params.yaml"
    raw = default_raw()
    raw["split"]["target_pool"] = 5
    bad.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("ADVLAB_PARAMS", str(bad))
    monkeypatch.chdir(tmp_path)
    assert prepare.main([]) == 2
    err = capsys.readouterr().err
    assert "split.target_pool" in err and "Traceback" not in err
    assert not (tmp_path / "data").exists()  # no half-written output


def test_overlay_merges_and_null_removes_mappings_only():
    base = {"models": {"a": {"x": 1, "y": [1, 2]}, "b": {"x": 2}}, "split": {"test": 5}}
    out = profiles.deep_merge(base, {"models": {"a": {"y": [3]}, "b": None}, "split": {"test": None}})
    assert out == {"models": {"a": {"x": 1, "y": [3]}}, "split": {"test": None}}
    assert base["models"]["b"] == {"x": 2}  # the base is not modified


@pytest.mark.parametrize("root,ok", [("data/raw", True), ("/srv/datasets", True), ("raw/cifar", True),
                                     ("../../../etc", False), ("data/../../x", False), ("", False)])
def test_data_root_is_inside_the_project_or_absolute(root, ok):
    raw = default_raw()
    raw["data"]["root"] = root
    if ok:
        assert P.validate(raw).data.root == root
    else:
        assert "data.root: " in _error(raw)
