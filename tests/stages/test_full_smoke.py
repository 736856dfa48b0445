"""The full profile, executed: the real ``dvc repro`` of every stage on ``profiles/full-smoke.yaml``.

full-smoke is the full profile (CIFAR-10, its widths and architectures, K shadows, every model,
attack, defense, estimator and target variant, under their names) with every size shrunk. This
test writes a few hundred CIFAR-10 images in torchvision's on-disk format, points ``data.root`` at
them and runs the whole pipeline on the CPU, so any place that assumes 1×28×28 inputs or the
default profile's names fails here. It takes about 32 minutes on 2 idle cores (each of the 89 stages
is a fresh Python process), so it is ``slow``: ``make test-all`` runs it.
"""

import sys

import numpy as np
import pytest
import yaml

from advlab.io import read_json
from tests.raw_files import write_cifar10_py2
from tests.stages.project import copy_project, run, stages_run

SHAPE = [3, 32, 32]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    dest = tmp_path_factory.mktemp("full_smoke")
    env = copy_project(dest, "full-smoke")
    # 5 × 70 training images and 60 test images: the split needs 320 + 40 (profiles/full-smoke.yaml)
    write_cifar10_py2(dest / "cifar" / "cifar-10-batches-py", n_per_batch=70, n_test=60, class_signal=0.5)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["data"]["root"] = str(dest / "cifar")
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stages = run([sys.executable, "-m", "dvc", "stage", "list", "--name-only"], dest, env).stdout.split()
    out = run([sys.executable, "-m", "dvc", "repro"], dest, env).stdout
    return dest, env, params, stages, out


@pytest.mark.slow
def test_every_stage_runs(smoke):
    dest, env, params, stages, out = smoke
    assert len(stages) > 80 and {"prepare", "train@vit", "mia_attack", "index"} <= set(stages)
    assert stages_run(out) == set(stages)
    assert "up to date" in run([sys.executable, "-m", "dvc", "repro"], dest, env).stdout


@pytest.mark.slow
def test_data_and_models_are_cifar_shaped(smoke):
    dest, _, params, _, _ = smoke
    prepared = np.load(dest / "data/prepared/dataset.npz")
    assert prepared["images"].shape == (410, *SHAPE) and len(prepared["classes"]) == 10
    assert read_json(dest / "data/prepared/split.json")["shadow_models"] == 4
    for name, model in params["models"].items():
        spec = read_json(dest / f"models/{name}/model.json")["spec"]
        assert spec["input_shape"] == SHAPE and spec["num_classes"] == 10, name
        assert spec["arch"] == model["arch"], name
        assert read_json(dest / f"results/models/evaluate/{name}.json")["n"] == 60, name
    shadows = sorted((dest / "models/membership/shadows").glob("*/model.safetensors"))
    assert len(shadows) == 4


@pytest.mark.slow
def test_every_family_writes_every_case(smoke):
    dest, _, params, _, _ = smoke
    ev, unc, cal = params["evasion"], params["uncertainty"], params["calibration"]
    for model in ev["models"]:
        attacks = read_json(dest / f"results/evasion/attacks/{model}.json")["attacks"]
        expected = {a for a, spec in ev["attacks"].items() if model in (spec.get("models") or ev["models"])}
        assert set(attacks) == expected, model
    for kind in ("softmax", "mc_dropout"):
        for model in unc[kind]:
            assert (dest / f"results/uncertainty/ace/{kind}_{model}.json").is_file()
    assert (dest / "results/uncertainty/ace/ensemble.json").is_file()
    for model in cal["models"]:
        assert (dest / f"results/calibration/attack/{model}.json").is_file()
    metrics = (dest / "results/membership/metrics.json").read_text()
    for target in params["membership"]["targets"]:
        assert target in metrics
    index = (dest / "reports/full-smoke/index.html").read_text()
    for report in params["reports"]:
        assert f'href="{report}.html"' in index
        assert "<img" in (dest / f"reports/full-smoke/{report}.html").read_text(), report
