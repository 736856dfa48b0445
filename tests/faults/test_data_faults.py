"""Fault injection (issue 14, items 1, 2 and 6): hostile or damaged data files and checkpoints,
run through the stages' ``main`` in a temporary tiny project (digits). Each case asserts exit
code 2, one line on stderr naming the file (or params key) and a stage of dvc.yaml to rerun,
no traceback, and that nothing changed outside the stage's outputs."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from advlab import params as P
from advlab import profiles
from tests.mia_params import prepared_project, write
from tests.raw_files import make_fmnist, write_cifar10_py2

ROOT = Path(__file__).resolve().parents[2]
STAGES = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
OUTS = {"prepare": ("data/prepared",), "evaluate": ("results/models/evaluate",),
        "train": ("models/", "results/models/train", "checkpoints/"),
        "mia_attack": ("results/membership/attack", "results/membership/roc.csv", "results/membership/metrics.json")}


def tiny(**data) -> dict:
    raw = profiles.resolve("tiny", ROOT / "profiles")
    for m in ("ens_0", "ens_1"):
        raw["models"][m]["train"]["epochs"] = 1
    raw["data"].update(data)
    return raw


def tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def fails(stage: str, args: list[str], pattern: str, capsys, folder: Path | None = None) -> str:
    """Run ``stage``'s main; assert exit 2, one stderr line matching ``pattern``, no traceback, a rerun
    hint naming a stage of dvc.yaml, and no file changed outside the stage's outputs."""
    import importlib

    folder = folder or Path.cwd()
    before = tree(folder)
    capsys.readouterr()
    assert importlib.import_module(f"advlab.stages.{stage}").main(args) == 2
    out = capsys.readouterr()
    err = out.err.strip()
    assert "Traceback" not in out.err + out.out
    assert err.count("\n") == 0 and err.startswith("error: "), err
    assert re.search(pattern, err), err
    hints = re.findall(r"dvc repro (?:-f )?(\w+)", err)
    assert hints and set(hints) <= STAGES, err
    after = tree(folder)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert all(k.startswith(OUTS[stage]) for k in changed), changed
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny project with prepared digits and two models of one architecture, ens_0 and ens_1."""
    from advlab.stages import evaluate, train

    with prepared_project(tmp_path_factory, "faults", tiny()) as tmp:
        assert train.main(["ens_0"]) == 0 and train.main(["ens_1"]) == 0
        assert evaluate.main(["ens_0"]) == 0  # the undamaged project works
        yield tmp


@pytest.fixture
def project(trained, tmp_path, monkeypatch):
    """A fresh copy of the trained project, as the working directory."""
    folder = tmp_path / "project"
    shutil.copytree(trained, folder)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("ADVLAB_PARAMS", raising=False)
    return folder


@pytest.fixture
def empty(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("ADVLAB_PARAMS", raising=False)
    return folder


# --- item 1: no code execution from data files; what data.root may be --------------------------------------

def test_crafted_cifar_batch_runs_no_code_during_prepare(empty, tmp_path, capsys):
    import pickle

    elsewhere = tmp_path / "datasets"  # data kept outside the project: an absolute data.root is allowed
    write_cifar10_py2(elsewhere / "cifar-10-batches-py")
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    batch = elsewhere / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(pickle.dumps({"data": np.zeros((3, 3072), np.uint8), "labels": [0, 1, 2], "x": Payload()},
                                   protocol=4))
    write(empty, tiny(dataset="cifar10", root=str(elsewhere)))
    fails("prepare", [], rf"^error: {re.escape(str(batch))}: not a plain cifar10 data batch \(refused to load "
                         r"posix\.system.*then run `dvc repro prepare`$", capsys)
    assert not marker.exists() and not (empty / "data").exists()


def test_data_root_escaping_the_project_is_refused(empty, capsys):
    from advlab.stages import prepare

    write(empty, tiny(root="../../../etc"))
    assert prepare.main([]) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    assert re.search(r"\n  data\.root: the relative path '\.\./\.\./\.\./etc' contains '\.\.'", out.err), out.err
    assert not (empty / "data").exists()


# --- item 2: nothing accepted silently ----------------------------------------------------------------------

def test_fashion_mnist_train_labels_replaced_by_test_labels(empty, capsys):
    folder = empty / "raw" / "fashion-mnist"
    make_fmnist(folder, n_train=60, n_test=10)
    shutil.copy(folder / "t10k-labels-idx1-ubyte.gz", folder / "train-labels-idx1-ubyte.gz")
    write(empty, tiny(dataset="fashion_mnist", root="raw"))
    fails("prepare", [], r"^error: raw/fashion-mnist/train-images-idx3-ubyte\.gz holds 60 images but "
                         r"raw/fashion-mnist/train-labels-idx1-ubyte\.gz holds 10 labels .*`dvc repro prepare`$",
          capsys)


def test_cifar_with_fewer_labels_than_images(empty, capsys):
    write_cifar10_py2(empty / "raw" / "cifar-10-batches-py", labels_short_by=1)
    write(empty, tiny(dataset="cifar10", root="raw"))
    fails("prepare", [], r"^error: raw/cifar-10-batches-py/data_batch_1 holds 3 images but 2 labels", capsys)


@pytest.mark.parametrize("swap", ["weights", "sidecar"])
def test_checkpoint_swapped_between_two_models_of_one_architecture(project, capsys, swap):
    src = {"weights": "model.safetensors", "sidecar": "model.json"}[swap]
    shutil.copy(project / "models/ens_1" / src, project / "models/ens_0" / src)
    pattern = (r"models/ens_0/model\.safetensors: the weights are not the ones model\.json records"
               if swap == "weights" else r"models/ens_0/model\.json: the sidecar belongs to model 'ens_1', not 'ens_0'")
    fails("evaluate", ["ens_0"], rf"^error: {pattern}.*`dvc repro -f train@ens_0`$", capsys)


# --- item 6: no raw tracebacks for corrupt files ------------------------------------------------------------

def test_truncated_gzip_idx_file(empty, capsys):
    folder = empty / "raw" / "fashion-mnist"
    make_fmnist(folder)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    write(empty, tiny(dataset="fashion_mnist", root="raw"))
    fails("prepare", [], r"^error: raw/fashion-mnist/train-images-idx3-ubyte\.gz: damaged or truncated gzip file "
                         r"\(.*\); .*`dvc repro prepare`$", capsys)


def test_cifar_batch_of_the_wrong_shape(empty, capsys):
    write_cifar10_py2(empty / "raw" / "cifar-10-batches-py", data_shape=(3, 3000))
    write(empty, tiny(dataset="cifar10", root="raw"))
    fails("prepare", [], r"^error: raw/cifar-10-batches-py/data_batch_1: 'data' must be N×3072 .*\(3, 3000\)", capsys)


@pytest.mark.parametrize("stage", ["evaluate", "train"])
def test_truncated_prepared_dataset(project, capsys, stage):
    path = project / "data/prepared/dataset.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    fails(stage, ["ens_0"], r"^error: data/prepared/dataset\.npz: prepared data damaged or truncated "
                            r"\(BadZipFile: .*\); run `dvc repro prepare`$", capsys)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "bad sidecar"])
def test_damaged_membership_signals(project, capsys, damage):
    from advlab.attacks.membership import Signals
    from advlab.data.prepared import load_prepared
    from advlab.study import membership as mia

    _, plan = load_prepared()
    data = mia.mia_data(plan, mia.settings(P.validate(tiny())))
    n, folder = len(data.pool), project / "results/membership/signals/shadows"
    Signals(np.zeros((4, n, 2, 10), np.float32), np.zeros(n, np.int64), data.shadow_keep, plan.hash,
            {"pool_hash": data.pool_hash}).save(folder / "pool.npz")
    npz, side = folder / "pool.npz", folder / "pool.json"
    if damage == "truncated":
        npz.write_bytes(npz.read_bytes()[:1000])
    elif damage == "garbage":
        npz.write_bytes(b"\x93NUMPY garbage" * 20)
    else:
        side.write_text('{"plan_hash": ')
    named = side if damage == "bad sidecar" else npz
    fails("mia_attack", [], rf"^error: {re.escape(str(named.relative_to(project)))}: damaged .*; "
                            r"rerun `dvc repro mia_signals`$", capsys)


def test_model_sidecar_whose_options_cannot_build_the_model(project, capsys):
    path = project / "models/ens_0/model.json"
    side = json.loads(path.read_text())
    side["spec"]["options"]["width"] = -1
    path.write_text(json.dumps(side))
    fails("evaluate", ["ens_0"], r"^error: models/ens_0/model\.json: cannot build the model it describes "
                                 r"\(.*\); rerun `dvc repro -f train@ens_0`$", capsys)
