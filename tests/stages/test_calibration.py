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
