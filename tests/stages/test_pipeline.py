"""End to end: the real ``dvc repro`` on the tiny profile in a temporary copy of the repository.

The spine (``prepare → train@ → evaluate@ → report@models``) runs in every test run.
The whole study on the tiny profile (every family, ~55 stages, each a fresh Python
process) takes longer than the suite's 10-minute budget on 2 cores, so it is the
``slow`` test ``test_whole_study_on_tiny_profile``: ``make test-all`` runs it.
"""

import re
import sys

import pytest
import yaml

from advlab.io import read_json
from tests.stages.project import copy_project, run, stages_run

SPINE = "report@models"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    dest = tmp_path_factory.mktemp("advlab")
    env = copy_project(dest)
    first = run([sys.executable, "-m", "dvc", "repro", SPINE], dest, env)
    return dest, env, first.stdout


def test_repro_produces_metrics_and_reports(project):
    dest, env, out = project
    assert {"prepare", "train@cnn", "evaluate@cnn", "train@vit", "report@models"} <= stages_run(out)
    train = read_json(dest / "results/models/train/cnn.json")
    evaluation = read_json(dest / "results/models/evaluate/cnn.json")
    assert train["test_accuracy"] > 0.5  # digits, 10 classes: far above chance
    assert evaluation["accuracy"] == pytest.approx(train["test_accuracy"], abs=1e-6)
    assert 0.0 <= evaluation["ece"] <= 1.0 and evaluation["n"] == 300
    assert (dest / "models/cnn/model.safetensors").is_file()
    assert not (dest / "checkpoints/train/cnn").exists()  # resume state cleared after success
    html = (dest / "reports/models.html").read_text()
    assert "Reliability diagrams" in html and "<img" in html and "def " not in html  # rendered without code
    for fig in ["training_curves.png", "reliability.png", "metrics.png"]:
        assert (dest / "reports/figures/models" / fig).stat().st_size > 5000
    shown = run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], dest, env).stdout
    assert "test_accuracy" in shown


def test_second_repro_does_nothing(project):
    dest, env, _ = project
    out = run([sys.executable, "-m", "dvc", "repro", SPINE], dest, env).stdout
    assert stages_run(out) == set() and "up to date" in out


def test_one_model_change_reruns_only_its_stages(project):
    dest, env, _ = project
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["models"]["cnn"]["train"]["epochs"] += 1
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run([sys.executable, "-m", "dvc", "repro", SPINE], dest, env).stdout
    ran = stages_run(out)
    assert ran == {"train@cnn", "evaluate@cnn", "report@models"}
    assert not any(s.endswith("@vit") for s in ran) and "prepare" not in ran
    assert read_json(dest / "results/models/train/cnn.json")["epochs"] == params["models"]["cnn"]["train"]["epochs"]


def test_notebooks_run_under_nbval(project):
    dest, env, _ = project
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                "notebooks/models.ipynb"], dest, env, check=False)
    assert done.returncode == 0, done.stdout[-4000:]
    assert re.search(r"\d+ passed", done.stdout)


def test_bad_params_fail_before_any_work(project):
    dest, env, _ = project
    good = (dest / "params.yaml").read_text()
    try:
        (dest / "params.yaml").write_text(good.replace("seed: 0", "seed: -4", 1))
        done = run([sys.executable, "-m", "dvc", "repro", "-f", "prepare"], dest, env, check=False)
        assert done.returncode != 0
        assert "seed: Input should be greater than or equal to 0" in done.stdout + done.stderr
        assert "Traceback" not in done.stdout + done.stderr
    finally:
        (dest / "params.yaml").write_text(good)


@pytest.mark.slow
def test_whole_study_on_tiny_profile(tmp_path):
    """Every family's stages, every report, the index, and nbval over every notebook."""
    env = copy_project(tmp_path)
    out = run([sys.executable, "-m", "dvc", "repro"], tmp_path, env).stdout
    ran = stages_run(out)
    for family in ["mia_attack", "evasion_detect", "ace_ensemble", "calibration_sweep", "index"]:
        assert family in ran
    index = (tmp_path / "reports/index.html").read_text()
    for report in ["models", "evasion", "calibration", "uncertainty", "membership"]:
        assert f'href="{report}.html"' in index
        assert "<img" in (tmp_path / f"reports/{report}.html").read_text()
    assert "up to date" in run([sys.executable, "-m", "dvc", "repro"], tmp_path, env).stdout
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "notebooks"],
               tmp_path, env, check=False)
    assert done.returncode == 0, done.stdout[-4000:]


def test_unknown_top_level_key_fails_dvc_repro(project):
    """No stage reads `foo`, but the check_params stage depends on the whole params.yaml."""
    dest, env, _ = project
    good = (dest / "params.yaml").read_text()
    try:
        (dest / "params.yaml").write_text(good + "foo: 1\n")
        done = run([sys.executable, "-m", "dvc", "repro", "check_params"], dest, env, check=False)
        out = done.stdout + done.stderr
        assert done.returncode != 0 and "foo: unknown key" in out and "Traceback" not in out
        (dest / "params.yaml").write_text(good)
        run([sys.executable, "-m", "dvc", "repro", "check_params"], dest, env)
        assert read_json(dest / "results/params_check.json")["valid"] is True
    finally:
        (dest / "params.yaml").write_text(good)
