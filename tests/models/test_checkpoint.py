"""A checkpoint's sidecar is bound to its weights (sha256) and to its model (name): weights or
sidecars swapped between two models of one architecture, edited weights, an old sidecar and a
sidecar whose options cannot build a model are each one line naming the file and the stage."""

import json
import shutil

import pytest
import torch

from advlab.errors import AdvlabError
from advlab.models.checkpoint import file_sha256, load_model, load_trained, model_name, retrain_hint, save_model
from advlab.models.zoo import build_model

SPEC = {"arch": "small_cnn", "input_shape": [1, 8, 8], "num_classes": 10,
        "options": {"width": 4, "hidden": 8, "mean": [0.5], "std": [0.25]}}


def _save(folder, seed):
    torch.manual_seed(seed)
    model = build_model("small_cnn", (1, 8, 8), 10, **SPEC["options"]).eval()
    save_model(folder, model, SPEC, {"plan_hash": "p"})
    return model


@pytest.fixture
def two(tmp_path):
    """models/ens_0 and models/ens_1: one architecture, different weights."""
    root = tmp_path / "models"
    return root, _save(root / "ens_0", 0), _save(root / "ens_1", 1)


def test_model_names_and_the_stage_that_rebuilds_them(tmp_path):
    assert model_name("models/ens_0") == "ens_0"
    assert model_name(tmp_path / "models" / "membership" / "shadows" / "003") == "membership/shadows/003"
    assert model_name(tmp_path / "elsewhere" / "cnn") == "cnn"
    assert model_name(tmp_path / "models" / "models") == "models"
    assert retrain_hint("ens_0") == "rerun `dvc repro -f train@ens_0`"
    assert retrain_hint("membership/targets/base") == "rerun `dvc repro -f mia_train@targets`"
    assert retrain_hint("membership/references/001") == "rerun `dvc repro -f mia_train@references`"


def test_sidecar_records_name_and_weights_hash(two):
    root, m0, _ = two
    side = json.loads((root / "ens_0" / "model.json").read_text())
    assert side["name"] == "ens_0" and side["weights_sha256"] == file_sha256(root / "ens_0" / "model.safetensors")
    assert side["plan_hash"] == "p" and side["spec"] == SPEC
    model, _ = load_trained("ens_0", "p", root=root)
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(model(x), m0(x))


def test_swapped_weights_are_refused(two):
    root = two[0]
    shutil.copy(root / "ens_1" / "model.safetensors", root / "ens_0" / "model.safetensors")
    with pytest.raises(AdvlabError) as err:
        load_trained("ens_0", "p", root=root)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(root / "ens_0" / "model.safetensors"))
    assert "not the ones model.json records" in msg and msg.endswith("`dvc repro -f train@ens_0`")


def test_swapped_sidecar_is_refused(two):
    root = two[0]
    shutil.copy(root / "ens_1" / "model.json", root / "ens_0" / "model.json")
    with pytest.raises(AdvlabError) as err:
        load_trained("ens_0", "p", root=root)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(root / "ens_0" / "model.json"))
    assert "belongs to model 'ens_1', not 'ens_0'" in msg and msg.endswith("`dvc repro -f train@ens_0`")


def test_swapped_folders_are_refused(two):
    root = two[0]
    (root / "ens_0").rename(root / "tmp")
    (root / "ens_1").rename(root / "ens_0")
    (root / "tmp").rename(root / "ens_1")
    with pytest.raises(AdvlabError, match="belongs to model 'ens_1', not 'ens_0'"):
        load_trained("ens_0", "p", root=root)


def test_an_explicit_name_is_checked(two):
    root = two[0]
    load_model(root / "ens_0", name="ens_0")
    with pytest.raises(AdvlabError, match="not 'ens_1'"):
        load_model(root / "ens_0", name="ens_1")


def test_sidecar_without_binding_is_refused(two):
    root = two[0]
    side = json.loads((root / "ens_0" / "model.json").read_text())
    for key in ("weights_sha256", "name"):
        side.pop(key)
        (root / "ens_0" / "model.json").write_text(json.dumps(side))
        with pytest.raises(AdvlabError, match=r"records no model name or weights hash .*dvc repro -f train@ens_0"):
            load_model(root / "ens_0")


@pytest.mark.parametrize("options", [{"width": -1}, {"width": "wide"}, {"nosuch": 3}])
def test_sidecar_whose_options_cannot_build_a_model(tmp_path, options):
    folder = tmp_path / "models" / "membership" / "shadows" / "000"
    _save(folder, 0)
    side = json.loads((folder / "model.json").read_text())
    side["spec"]["options"].update(options)
    (folder / "model.json").write_text(json.dumps(side))
    with pytest.raises(AdvlabError) as err:
        load_model(folder)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{folder / 'model.json'}: cannot build the model it describes")
    assert msg.endswith("rerun `dvc repro -f mia_train@shadows`")


@pytest.mark.parametrize("text", ["{", "[]", '{"spec": []}', '{"spec": {"arch": "small_cnn"}}'])
def test_unreadable_sidecar_is_one_line(tmp_path, text):
    folder = tmp_path / "models" / "cnn"
    _save(folder, 0)
    (folder / "model.json").write_text(text)
    with pytest.raises(AdvlabError) as err:
        load_model(folder)
    assert "\n" not in str(err.value) and "unreadable model sidecar" in str(err.value)
