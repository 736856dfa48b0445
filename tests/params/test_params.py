from pathlib import Path

import shutil
import pytest
import yaml

from advlab import params as P
from advlab import profiles
from advlab.cli import main as cli
from advlab.errors import AdvlabError

ROOT = Path(__file__).resolve().parents[2]


def default_raw():
    return yaml.safe_load((ROOT / "profiles" / "default.yaml").read_text())


@pytest.mark.parametrize("name", ["default", "tiny", "full", "full-smoke"])
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


def _names(raw: dict) -> dict:
    """Every name a profile defines: models (with arch and options), targets, attacks, defenses, estimators."""
    m, e, u, c = raw["membership"], raw["evasion"], raw["uncertainty"], raw["calibration"]
    return {"models": {k: (v["arch"], v["options"]) for k, v in raw["models"].items()},
            "targets": {k: (v.get("role"), v.get("options"), v.get("dp"), (v.get("train") or {}).get("augment"))
                        for k, v in m["targets"].items()},
            "queries": m["queries"], "references": m["references"],
            "attacks": {k: (v["attack"], v.get("norm"), v.get("models")) for k, v in e["attacks"].items()},
            "evasion": [e["models"], e["surrogate"], e["defenses"], e["certify"]["models"], e["detection"]["attacks"],
                        e["detection"]["detectors"]],
            "uncertainty": [u[k] for k in ("proxy", "softmax", "mc_dropout", "ensemble", "selectivenet")],
            "calibration": [c["models"], c["targets"], c["attack"]["objectives"], c["attack"]["searches"],
                            c["sweep"]["objectives"], c["target_searches"], c["detection"]["detectors"]],
            "data": raw["data"]["dataset"], "reports": raw["reports"]}


def test_full_smoke_overlays_full_and_changes_only_sizes():
    assert profiles.chain("full-smoke", ROOT / "profiles") == ["default", "full", "full-smoke"]
    full, smoke = (profiles.resolve(n, ROOT / "profiles") for n in ("full", "full-smoke"))
    assert "base" not in smoke
    assert _names(smoke) == _names(full)
    assert smoke["split"]["shadow_models"] == 4 and full["split"]["shadow_models"] == 64
    assert all(m["train"]["epochs"] == 1 for m in smoke["models"].values())
    p = P.validate(smoke, "full-smoke")
    assert p.data.dataset == "cifar10" and p.evasion.certify.n < 1000


def test_profile_base_is_resolved_recursively(tmp_path):
    (tmp_path / "default.yaml").write_text((ROOT / "profiles" / "default.yaml").read_text())
    (tmp_path / "a.yaml").write_text("seed: 3\nsplit: {seed: 5}\n")
    (tmp_path / "b.yaml").write_text("base: a\nsplit: {validation: 100}\n")
    (tmp_path / "c.yaml").write_text("base: b\nseed: 4\n")
    c = profiles.resolve("c", tmp_path)
    assert (c["seed"], c["split"]["seed"], c["split"]["validation"]) == (4, 5, 100)
    assert c["split"]["target_pool"] == default_raw()["split"]["target_pool"] and "base" not in c
    target = tmp_path / "params.yaml"
    profiles.switch("c", target, tmp_path)
    assert P.load(target).seed == 4
    assert "profiles/default.yaml + profiles/a.yaml + profiles/b.yaml + profiles/c.yaml" in target.read_text()


@pytest.mark.parametrize("files,match", [
    ({"x": "base: nowhere\n"}, "unknown profile 'nowhere' \\(base of profiles/x.yaml\\); profiles are: default, x"),
    ({"x": "base: y\n", "y": "base: x\n"}, "'base: x' makes a cycle \\(x -> y -> x\\)"),
    ({"x": "base: x\n"}, "'base: x' makes a cycle \\(x -> x\\)"),
    ({"x": "base: [full]\n"}, "base must be a profile name"),
    ({"x": "- 1\n"}, "a profile must be a mapping"),
])
def test_bad_profile_base_is_one_line(tmp_path, files, match):
    (tmp_path / "default.yaml").write_text((ROOT / "profiles" / "default.yaml").read_text())
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    with pytest.raises(AdvlabError, match=match):
        profiles.resolve("x", tmp_path)


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


@pytest.fixture
def project_dir(tmp_path, monkeypatch):
    """A folder with the repository's profiles and the default params.yaml, as the working directory."""
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    shutil.copy(ROOT / "profiles" / "default.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_profile_refuses_to_overwrite_local_edits_unless_forced(project_dir, capsys):
    params = project_dir / "params.yaml"
    edited = params.read_text().replace("seed: 0", "seed: 7", 1)
    params.write_text(edited)
    assert cli(["profile", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "params.yaml has local edits" in err and "advlab profile tiny --force" in err
    assert params.read_text() == edited and not (project_dir / "params.yaml.bak").exists()
    assert cli(["profile", "tiny", "--force"]) == 0
    out = capsys.readouterr().out
    assert (project_dir / "params.yaml.bak").read_text() == edited
    assert "  seed: 7 -> 0" in out and "data.dataset: 'fashion_mnist' -> 'digits'" in out
    assert P.load(params).data.dataset == "digits"


def test_profile_switches_freely_between_unedited_profiles(project_dir, capsys):
    assert cli(["profile", "tiny"]) == 0 and cli(["profile", "full"]) == 0 and cli(["profile", "default"]) == 0
    assert "data.dataset: 'cifar10' -> 'fashion_mnist'" in capsys.readouterr().out
    assert not (project_dir / "params.yaml.bak").exists()


def test_profile_help_lists_every_profile_with_a_line(project_dir, capsys):
    with pytest.raises(SystemExit):
        cli(["profile", "--help"])
    out = capsys.readouterr().out
    for name in profiles.available(project_dir / "profiles"):
        line = next(l for l in out.splitlines() if l.strip().startswith(name + " "))
        assert len(line.split(None, 1)[1]) > 10, line  # a description, not just the name
    assert "Full profile (GPU, paper scale)" in out and "--force" in out


@pytest.mark.parametrize("section, key, value, words", [
    ("intervals", "resamples", 99, "greater than or equal to 100"),
    ("intervals", "confidence", 1.0, "less than 1"),
    ("intervals", "confidence", 0.0, "greater than 0"),
    ("output", "reports", "../elsewhere", "inside the project"),
    ("output", "metrics", "/tmp/metrics", "inside the project"),
])
def test_bad_interval_and_output_settings_name_the_key(section, key, value, words):
    raw = default_raw()
    raw[section][key] = value
    msg = _error(raw)
    assert f"{section}.{key}" in msg and words in msg


def test_a_profile_other_than_the_default_writes_its_reports_beside_the_committed_ones():
    assert profiles.resolve("default")["output"] == {"profile": "default", "reports": "reports", "metrics": "metrics"}
    assert profiles.resolve("tiny")["output"] == {"profile": "tiny", "reports": "reports/tiny",
                                                  "metrics": "reports/tiny/metrics"}
    assert profiles.resolve("full-smoke")["output"]["reports"] == "reports/full-smoke"
