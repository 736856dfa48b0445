"""The calibration stages: a bad command, model or target is a one-line error (exit 2) before any work."""

import copy
from pathlib import Path

import pytest
import yaml

from advlab.profiles import resolve
from advlab.stages import calibration

PROFILES = Path(__file__).resolve().parents[2] / "profiles"


@pytest.fixture(scope="module")
def default():
    return copy.deepcopy(resolve("default", PROFILES))


def test_stage_rejects_unknown_target_and_command(tmp_path, monkeypatch, default):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(default))
    monkeypatch.setenv("ADVLAB_PARAMS", str(path))
    monkeypatch.chdir(tmp_path)  # no data here: the error must come before any loading
    assert calibration.main(["target", "nonexistent"]) == 2
    assert calibration.main(["attack", "alexnet"]) == 2
    assert calibration.main(["frobnicate"]) == 2


def test_target_stage_writes_the_json_and_the_per_example_arrays(tmp_path, monkeypatch, default):
    import json

    import numpy as np

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(default))
    monkeypatch.setenv("ADVLAB_PARAMS", str(path))
    metrics = {"target": "temperature", "n": 3, "clean": {"accuracy": 1.0, "ece": 0.1}, "stage_seconds": 1.0,
               "attacks": {"under_square_linf": {"objective": "underconfidence", "search": "square_linf", "ece_adv": 0.2}}}
    arrays = {"index": np.arange(3), "labels": np.zeros(3, int), "conf_clean": np.ones(3, np.float32),
              "pred_clean": np.zeros(3, int), "under_square_linf_conf": np.ones(3, np.float32),
              "under_square_linf_pred": np.zeros(3, int)}
    monkeypatch.setattr(calibration, "target_study", lambda p, name, device: {"metrics": metrics, "arrays": arrays})
    monkeypatch.setattr(calibration, "RESULTS", tmp_path / "results")
    assert calibration.main(["target", "temperature"]) == 0
    folder = tmp_path / "results" / "targets"
    assert json.loads((folder / "temperature.json").read_text()) == metrics
    with np.load(folder / "temperature_samples.npz") as z:
        assert sorted(z.files) == sorted(arrays) and all(np.array_equal(z[k], v) for k, v in arrays.items())
