"""Evasion stages: a user error fails before any loading, with one message and exit 2."""

from pathlib import Path

import pytest
import yaml

from advlab.profiles import resolve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder with the default profile as params.yaml and no data (nothing can be loaded)."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(resolve("default", ROOT / "profiles")))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADVLAB_PARAMS", raising=False)
    return tmp_path


def test_stage_with_unknown_defense_fails_before_loading(workdir, capsys):
    from advlab.stages import evasion_defense

    assert evasion_defense.main(["gaussian_blur"]) == 2
    assert "defense 'gaussian_blur' does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("module,args,message", [
    ("evasion", ["ghost"], "'ghost' is not under evasion.models"),
    ("evasion_certify", ["cnn"], "model 'cnn' is not under evasion.certify.models"),
    ("evasion_poison", ["gaussian"], "kind 'gaussian' does not exist"),
    ("evasion_detect", [], "results/evasion/attacks/cnn_adv.npz is missing"),
])
def test_stage_user_errors_fail_before_loading(workdir, capsys, module, args, message):
    import importlib

    main = importlib.import_module(f"advlab.stages.{module}").main
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_certify_stage_writes_a_monotone_certified_accuracy_curve(tmp_path_factory):
    """``evasion_certify@<model>`` end to end on the tiny profile's noise-trained model."""
    import json

    import pandas as pd

    from advlab.stages import evasion_certify, train
    from tests.mia_params import prepared_project

    raw = resolve("tiny", ROOT / "profiles")
    with prepared_project(tmp_path_factory, "certify", raw) as tmp:
        assert train.main(["cnn_noise025"]) == 0
        assert evasion_certify.main(["cnn_noise025"]) == 0
        out = json.loads((tmp / "results/evasion/certify/cnn_noise025.json").read_text())
        curve = pd.read_csv(tmp / "results/evasion/certify/cnn_noise025_curve.csv")
    acc = [out["certified_accuracy"][r] for r in sorted(out["certified_accuracy"], key=float)]
    assert all(0.0 <= a <= 1.0 for a in acc) and acc == sorted(acc, reverse=True)  # a larger radius certifies fewer
    assert out["sigma"] == 0.25 and out["n"] == raw["evasion"]["certify"]["n"] and 0.0 <= out["abstain_rate"] <= 1.0
    assert (curve.certified_accuracy.diff().dropna() <= 1e-12).all() and curve.radius.iloc[0] == 0.0
