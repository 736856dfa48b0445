"""The uncertainty stage's command line (``main``): user errors are one line and exit 2.
A full case runs in the slow whole-study test (tests/test_pipeline.py)."""

import yaml

from advlab.profiles import resolve
from advlab.stages.uncertainty import main


def _params(tmp_path, monkeypatch):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(resolve("tiny")))
    monkeypatch.setenv("ADVLAB_PARAMS", str(path))
    monkeypatch.chdir(tmp_path)


def test_usage_errors_exit_2_with_one_line(tmp_path, monkeypatch, capsys):
    _params(tmp_path, monkeypatch)
    assert main(["member"]) == 2
    assert "usage: python -m advlab.stages.uncertainty member <model>" in capsys.readouterr().err
    assert main(["softmax", "nope"]) == 2
    assert "'nope' is not under uncertainty.softmax" in capsys.readouterr().err
    assert main(["temperature", "cnn"]) == 2
    assert "estimator 'temperature' has no model list" in capsys.readouterr().err
    assert main(["member", "cnn"]) == 2
    assert "'cnn' is not under uncertainty.ensemble" in capsys.readouterr().err
