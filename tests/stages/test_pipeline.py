"""End to end: the real ``dvc repro`` of every stage on the tiny profile, in a temporary git
repository made from the working tree, and what DVC users do next with it: a second repro that
does nothing, ``dvc metrics/params/plots/exp`` on the committed baseline, an experiment compared
with it, a push to a remote and a pull into a second clone that needs no run.

One module-scoped run serves every test (it is most of ``make test``'s time).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys

import pytest
import yaml

from advlab.io import read_json
from tests.stages.project import copy_project, run, stages_run

FAMILIES = ["models", "membership", "evasion", "uncertainty", "calibration"]
OUT = "reports/tiny"             # a profile other than the default writes beside the committed reports
METRICS = f"{OUT}/metrics"
DVC = [sys.executable, "-m", "dvc"]


def git(args, cwd, env):
    return run(["git", *args], cwd, env)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    dest = tmp_path_factory.mktemp("advlab")
    env = copy_project(dest)
    git(["config", "user.email", "test@advlab"], dest, env)
    git(["config", "user.name", "advlab test"], dest, env)
    first = run(DVC + ["repro"], dest, env)
    git(["add", "-A"], dest, env)
    git(["commit", "-qm", "baseline: dvc repro on the tiny profile"], dest, env)
    return dest, env, first.stdout


def test_every_stage_ran_and_every_report_rendered(project):
    dest, env, out = project
    ran = stages_run(out)
    for stage in ["prepare", "train@cnn", "evaluate@cnn", "mia_attack", "evasion@cnn", "evasion_detect",
                  "evasion_certify@cnn_noise025", "evasion_poison@backdoor", "ace_ensemble", "calibration_sweep",
                  "report@models", "index"]:
        assert stage in ran, stage
    train = read_json(dest / "results/models/train/cnn.json")
    evaluation = read_json(dest / "results/models/evaluate/cnn.json")
    assert train["test_accuracy"] > 0.5  # digits, 10 classes: far above chance
    assert evaluation["accuracy"] == pytest.approx(train["test_accuracy"], abs=1e-6)
    assert not (dest / "checkpoints/train/cnn").exists()  # resume state cleared after success
    index = (dest / OUT / "index.html").read_text()
    for family in FAMILIES:
        assert f'href="{family}.html"' in index
        html = (dest / OUT / f"{family}.html").read_text()
        assert "<img" in html and "def " not in html  # rendered, without code
        assert re.search(r"Run provenance.*Dataset <code>digits</code>.*profile <code>tiny</code>", html, re.S), family
        assert re.search(rf"dvc.lock</code> records for <code>report@{family}</code>", html), family
        assert "Kernel is running over TCP" not in html
    assert not (dest / "reports/index.html").exists()  # the committed default reports are never written
    assert "baseline accuracy <b>" in index  # headline numbers beside the links
    assert "SPEC §6 claims</a>: " in index  # and the verdicts of the claims
    for family in ["evasion", "membership", "uncertainty", "calibration"]:  # each ends with intervals and claims
        claims = list(csv.DictReader(open(dest / OUT / "figures" / family / "claims.csv")))
        assert claims and all(c["verdict"].split(" (")[0] in {"holds", "does not hold", "inconclusive at this sample size"}
                              for c in claims), (family, claims)
        assert "]" in claims[0]["figure"] or family == "calibration", claims  # a figure with its interval
    for fig in ["training_curves.png", "reliability.png", "metrics.png"]:
        assert (dest / OUT / "figures/models" / fig).stat().st_size > 5000


def test_each_family_writes_a_few_numeric_headline_metrics(project):
    dest, env, _ = project
    for family in FAMILIES:
        numbers = json.loads((dest / METRICS / f"{family}.json").read_text())
        assert 2 <= len(numbers) <= 8, (family, numbers)
        assert all(isinstance(v, float) and math.isfinite(v) for v in numbers.values()), (family, numbers)
    models = read_json(dest / METRICS / "models.json")
    assert models["baseline_accuracy"] == round(read_json(dest / "results/models/evaluate/cnn.json")["accuracy"], 6)
    calibration = read_json(dest / METRICS / "calibration.json")
    assert calibration["max_prediction_changed_rate"] == 0.0  # calibration attacks keep every prediction
    evasion = read_json(dest / METRICS / "evasion.json")
    assert evasion["pgd_robust_accuracy"] <= evasion["clean_accuracy"]
    with open(dest / OUT / "figures/evasion/attacks.csv") as fh:  # the evasion family's table
        rows = list(csv.DictReader(fh))
    assert {r["attack"] for r in rows} >= {"fgsm", "pgd40", "square"} and {r["model"] for r in rows} == {"cnn", "cnn_pgdat"}


def test_second_repro_does_nothing_and_status_is_clean(project):
    dest, env, _ = project
    out = run(DVC + ["repro"], dest, env).stdout
    assert stages_run(out) == set() and "up to date" in out
    assert "up to date" in run(DVC + ["status"], dest, env).stdout


def test_dvc_shows_the_committed_baseline(project):
    dest, env, _ = project
    shown = json.loads(run(DVC + ["metrics", "show", "--json"], dest, env).stdout)
    files = next(iter(shown.values()))["data"]
    assert {f"{METRICS}/{f}.json" for f in FAMILIES} == set(files)  # the headline files, nothing else
    assert run(DVC + ["params", "diff"], dest, env).stdout.strip() == ""  # nothing changed since the commit
    plots = run(DVC + ["plots", "show", "-o", "dvc_plots"], dest, env)
    assert (dest / "dvc_plots/index.html").is_file(), plots.stdout + plots.stderr
    assert f"{OUT}/figures/evasion/attacks.csv" in (dest / "dvc_plots/index.html").read_text()
    table = run(DVC + ["exp", "show", "--csv", "--only-changed"], dest, env).stdout
    assert len(table.splitlines()[0].split(",")) <= 12  # compact: no per-model columns


def test_an_experiment_reruns_only_what_it_changes_and_is_compared_with_the_baseline(project):
    dest, env, _ = project
    try:
        done = run(DVC + ["exp", "run", "-S", "evasion.detection.lid_k=3"], dest, env)
        ran = stages_run(done.stdout)
        assert ran == {"check_params", "evasion_detect", "report@evasion", "index"}, ran
        diff = json.loads(run(DVC + ["metrics", "diff", "HEAD", "--json"], dest, env).stdout)
        assert set(diff) == {f"{METRICS}/evasion.json"} and set(diff[f"{METRICS}/evasion.json"]) == {"detection_mean_auroc"}, diff
        rows = list(csv.DictReader(io.StringIO(run(DVC + ["exp", "show", "--csv"], dest, env).stdout)))
        assert sorted(r["evasion.detection.lid_k"] for r in rows if r["evasion.detection.lid_k"]) == ["3", "3", "5"], rows
    finally:  # back to the committed baseline for the other tests: git for the tracked files, DVC for the rest
        git(["checkout", "--", "."], dest, env)
        run(DVC + ["checkout", "--force"], dest, env)
    assert "up to date" in run(DVC + ["status"], dest, env).stdout


def test_push_then_pull_in_a_second_clone_needs_no_run(project, tmp_path):
    dest, env, _ = project
    remote = tmp_path / "remote"
    run(DVC + ["remote", "modify", "--local", "local", "url", str(remote)], dest, env)
    run(DVC + ["push"], dest, env)
    clone = tmp_path / "clone"
    git(["clone", "-q", str(dest), str(clone)], tmp_path, env)
    (clone / ".dvc/config.local").write_text(f"['remote \"local\"']\n    url = {remote}\n")
    pulled = run(DVC + ["pull"], clone, env)
    assert (clone / "models/cnn/model.safetensors").is_file(), pulled.stdout
    status = run(DVC + ["status"], clone, env).stdout
    assert "up to date" in status, status
    assert stages_run(run(DVC + ["repro"], clone, env).stdout) == set()


def test_notebooks_run_under_nbval(project):
    dest, env, _ = project
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                "notebooks/models.ipynb"], dest, env, check=False)  # the report stages ran every notebook
    assert done.returncode == 0, done.stdout[-4000:]
    assert re.search(r"\d+ passed", done.stdout)


def test_bad_params_fail_before_any_work(project):
    dest, env, _ = project
    good = (dest / "params.yaml").read_text()
    try:
        (dest / "params.yaml").write_text(good.replace("seed: 0", "seed: -4", 1))
        done = run(DVC + ["repro", "-f", "prepare"], dest, env, check=False)
        assert done.returncode != 0
        assert "seed: Input should be greater than or equal to 0" in done.stdout + done.stderr
        assert "Traceback" not in done.stdout + done.stderr
    finally:
        (dest / "params.yaml").write_text(good)


def test_unknown_top_level_key_fails_dvc_repro(project):
    """No stage reads `foo`, but the check_params stage depends on the whole params.yaml."""
    dest, env, _ = project
    good = (dest / "params.yaml").read_text()
    try:
        (dest / "params.yaml").write_text(good + "foo: 1\n")
        done = run(DVC + ["repro", "check_params"], dest, env, check=False)
        out = done.stdout + done.stderr
        assert done.returncode != 0 and "foo: unknown key" in out and "Traceback" not in out
        (dest / "params.yaml").write_text(good)
        run(DVC + ["repro", "check_params"], dest, env)
        assert read_json(dest / "results/params_check.json")["valid"] is True
    finally:
        (dest / "params.yaml").write_text(good)


def test_the_tiny_lock_is_named_under_the_default_params(project, tmp_path):
    dest, env, _ = project
    default = yaml.safe_load((dest / "profiles/default.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(default))
    (tmp_path / "dvc.lock").write_text((dest / "dvc.lock").read_text())
    done = subprocess.run([sys.executable, "-m", "advlab.cli", "check-params"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "dvc.lock was recorded with data.dataset = 'digits', params.yaml has 'fashion_mnist'" in done.stdout
