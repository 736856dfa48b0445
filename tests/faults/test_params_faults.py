"""Fault injection (issue 14, items 3, 4, 5, 7): bad params, damaged membership targets,
stale report results, wrong rerun hints. Each case asserts the exit code (2) or the
AdvlabError, the one-line message (the file or key path, and the fix), no traceback, and that
nothing changed outside the stage's outputs. Runs on small params (digits) in a temp dir."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from advlab import cli, profiles
from advlab.errors import AdvlabError
from tests.mia_params import params as mia_params
from tests.mia_params import prepared_project, write

ROOT = Path(__file__).resolve().parents[2]


def tree_hash(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not str(p.relative_to(folder)).startswith(skip)}


def one_line_error(captured, pattern: str) -> str:
    err = captured.err.strip()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    assert re.search(pattern, err), err
    return err


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CI", "true")
    return tmp_path


def tiny() -> dict:
    raw = profiles.resolve("tiny", ROOT / "profiles")
    raw["data"]["root"] = str(ROOT / "data/raw")
    return raw


def mutate(raw: dict, path: str, value) -> dict:
    raw = copy.deepcopy(raw)
    *head, last = path.split(".")
    node = raw
    for k in head:
        node = node.setdefault(k, {})
    node[last] = value
    return raw


# --- advlab check-params: (mutation of the tiny profile, message pattern) ------------------------
TINY_CASES = {
    # kept (already passing before issue 14)
    "unknown top-level key": (lambda r: mutate(r, "foo", 1), r"^error: params\.yaml: 1 invalid.*\n  foo: unknown key"),
    "unknown key in a model": (lambda r: mutate(r, "models.cnn.optionz", {}), r"models\.cnn\.optionz: unknown key"),
    "unsafe model name": (lambda r: mutate(r, "models", {**r["models"], "../x": r["models"]["cnn"]}),
                          r"models\.\.\./x\.\[key\]: name '\.\./x' must be letters, digits and underscores"),
    # item 5: every architecture's options, named by key path
    "small_cnn width -3": (lambda r: mutate(r, "models.cnn.options.width", -3),
                           r"models\.cnn\.options\.width: must be an integer >= 1 \(got -3\)$"),
    "small_cnn hidden 0.5": (lambda r: mutate(r, "models.cnn.options.hidden", 0.5),
                             r"models\.cnn\.options\.hidden: must be an integer >= 1"),
    "small_cnn dropout 1.5": (lambda r: mutate(r, "models.cnn.options.dropout", 1.5),
                              r"models\.cnn\.options\.dropout: must be a probability in \[0, 1\)"),
    "small_cnn norm layer": (lambda r: mutate(r, "models.cnn.options.norm", "layer"),
                             r"models\.cnn\.options\.norm: must be one of batch, group, none"),
    "small_cnn unknown option": (lambda r: mutate(r, "models.cnn.options.depth", 3),
                                 r"models\.cnn\.options\.depth: unknown option of this architecture \(allowed: "),
    "vit num_heads 3 for embed_dim 16": (lambda r: mutate(r, "models.vit.options.num_heads", 3),
                                         r"models\.vit\.options\.num_heads: must divide embed_dim 16 \(got 3\)"),
    "vit patch_size 3 on 8x8": (lambda r: mutate(r, "models.vit.options.patch_size", 3),
                                r"models\.vit\.options\.patch_size: patch_size 3 must divide the image size 8x8"),
    "vit depth 0": (lambda r: mutate(r, "models.vit.options.depth", 0), r"models\.vit\.options\.depth: must be an integer"),
    "vit mlp_ratio -1": (lambda r: mutate(r, "models.vit.options.mlp_ratio", -1.0),
                         r"models\.vit\.options\.mlp_ratio: must be a number > 0"),
    "resnet layers []": (lambda r: mutate(r, "models.rn", {"arch": "resnet", "options": {"layers": []},
                                                           "train": {"epochs": 1}}),
                         r"models\.rn\.options\.layers: must be a non-empty list of integers >= 1"),
    "resnet width 1": (lambda r: mutate(r, "models.rn", {"arch": "resnet", "options": {"width": 1},
                                                         "train": {"epochs": 1}}),
                       r"models\.rn\.options\.width: must be an integer >= 2"),
    "selectivenet base itself": (lambda r: mutate(r, "models.cnn_sel.options.base", "selectivenet"),
                                 r"models\.cnn_sel\.options\.base: base='selectivenet' must be another zoo architecture"),
    "selectivenet selector_hidden 0": (lambda r: mutate(r, "models.cnn_sel.options.selector_hidden", 0),
                                       r"models\.cnn_sel\.options\.selector_hidden: must be an integer >= 1"),
    "selectivenet base option": (lambda r: mutate(r, "models.cnn_sel.options.width", -1),
                                 r"models\.cnn_sel\.options\.width: must be an integer >= 1"),
    "membership target option": (lambda r: mutate(r, "membership.targets.base.options", {"width": 0}),
                                 r"membership\.targets\.base\.options\.width: must be an integer >= 1"),
    # item 7
    "unknown name in a family list": (lambda r: mutate(r, "uncertainty.softmax", ["cnn", "nosuch"]),
                                      r"uncertainty\.softmax\.1: model 'nosuch' is not under models \(have cnn, "),
    "bad key in a family section": (lambda r: mutate(r, "membership.targets.base.bogus", 1),
                                    r"membership\.targets\.base\.bogus: unknown key"),
}


@pytest.mark.parametrize("case", list(TINY_CASES))
def test_check_params_names_the_key(project, capsys, case):
    mutation, pattern = TINY_CASES[case]
    (project / "params.yaml").write_text(yaml.safe_dump(mutation(tiny()), sort_keys=False))
    before = tree_hash(project)
    assert cli.main(["check-params"]) == 2
    err = one_line_error(capsys.readouterr(), pattern)
    assert len(err.splitlines()) == 2 and "(got {" not in err and len(err) < 400  # no pasted section
    assert tree_hash(project) == before


@pytest.mark.parametrize("text, pattern", [
    ("models: [unclosed\n", r"params\.yaml: not valid YAML"),
    ("", r"params\.yaml: the params file is empty; write one with `advlab profile default`"),
    ("# nothing but a comment\n", r"params\.yaml: the params file is empty"),
    (None, r"params\.yaml: params file not found .*`advlab profile default`"),
])
def test_bad_or_empty_or_missing_params_file(project, capsys, text, pattern):
    from advlab.stages import check_params, prepare

    if text is not None:
        (project / "params.yaml").write_text(text)
    before = tree_hash(project)
    assert cli.main(["check-params"]) == 2
    one_line_error(capsys.readouterr(), pattern)
    for stage in (check_params, prepare):  # the stages give the same line, not DVC's "Could not find 'models'"
        assert stage.main([]) == 2
        one_line_error(capsys.readouterr(), pattern)
    assert tree_hash(project) == before


def test_make_study_checks_params_before_dvc():
    study = re.search(r"^study:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)[1].splitlines()
    assert "check-params" in study[0] and "dvc repro" in study[-1]


def test_check_params_stage_catches_unknown_top_level_keys(project, capsys):
    """dvc.yaml's check_params stage depends on the whole params.yaml: `foo: 1` fails `dvc repro`."""
    from advlab.stages import check_params

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert "params.yaml" in stages["check_params"]["deps"]
    assert "check_params" in stages["check_params"]["cmd"]
    raw = tiny()
    (project / "params.yaml").write_text(yaml.safe_dump(mutate(raw, "foo", 1), sort_keys=False))
    before = tree_hash(project)
    assert check_params.main([]) == 2
    one_line_error(capsys.readouterr(), r"^error: params\.yaml: 1 invalid value\(s\)\n  foo: unknown key")
    assert tree_hash(project) == before and not (project / "results").exists()
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert check_params.main([]) == 0
    assert json.loads((project / "results/params_check.json").read_text())["valid"] is True


def test_bad_model_option_fails_train_before_any_work(project, capsys):
    from advlab.stages import train

    (project / "params.yaml").write_text(yaml.safe_dump(mutate(tiny(), "models.cnn.options.width", -3)))
    before = tree_hash(project)
    assert train.main(["cnn"]) == 2
    one_line_error(capsys.readouterr(), r"models\.cnn\.options\.width: must be an integer >= 1 \(got -3\)")
    assert tree_hash(project) == before and not (project / "models").exists()


# --- item 3: membership targets' reuse verifies the weights; every rerun hint names a real stage ----
@pytest.fixture(scope="module")
def mia_targets(tmp_path_factory):
    from advlab.stages import mia_train

    raw = mia_params(targets={"base": {"role": "baseline"}})
    raw["membership"]["recipe"]["train"]["epochs"] = 2
    with prepared_project(tmp_path_factory, "targets", raw) as tmp:
        assert mia_train.main(["targets"]) == 0
        yield tmp


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other shapes"])
def test_damaged_target_is_retrained_not_reused(mia_targets, capsys, monkeypatch, damage):
    from safetensors.torch import load_file, save_file

    from advlab.models.checkpoint import load_model
    from advlab.stages import mia_train

    monkeypatch.chdir(mia_targets)
    weights = mia_targets / "models/membership/targets/base/model.safetensors"
    good = weights.read_bytes()
    capsys.readouterr()
    assert mia_train.main(["targets"]) == 0 and "(reused)" in capsys.readouterr().out  # intact: reused
    if damage == "truncate":
        weights.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        weights.write_bytes(b"\x00" * 64)
    else:
        state = load_file(str(weights))
        save_file({k: v for k, v in state.items() if "head" not in k}, str(weights))
    before = tree_hash(mia_targets, skip=("models/membership/targets", "results/membership/train", "checkpoints"))
    assert mia_train.main(["targets"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"targets/base/model\.safetensors: .*; retraining", out) and "(reused)" not in out
    load_model(weights.parent)  # the retrained weights load
    assert weights.read_bytes() == good  # same job, same seed: the same weights again
    assert tree_hash(mia_targets, skip=("models/membership/targets", "results/membership/train",
                                        "checkpoints")) == before


def test_damaged_membership_model_hint_names_mia_train(mia_targets, tmp_path):
    import shutil

    from advlab.models.checkpoint import load_model, load_trained

    folder = tmp_path / "models/membership/targets/base"
    shutil.copytree(mia_targets / "models/membership/targets/base", folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(AdvlabError, match=r"model\.safetensors: checkpoint is corrupt.*`dvc repro -f mia_train@targets`"):
        load_model(folder)
    shutil.copytree(mia_targets / "models/membership/targets/base", tmp_path / "models/cnn")
    side = json.loads((tmp_path / "models/cnn/model.json").read_text())
    (tmp_path / "models/cnn/model.json").write_text(json.dumps({**side, "name": "cnn"}))  # past the name binding
    with pytest.raises(AdvlabError, match=r"trained on split plan \w+ but the current plan is deadbeef; "
                                          r"rerun `dvc repro train@cnn`"):  # a foreign split plan (kept)
        load_trained("cnn", "deadbeef", root=tmp_path / "models")


HINT = re.compile(r"dvc repro (?:-f )?([A-Za-z_{][\w{}().@<>\[\]]*)")


def test_every_rerun_hint_names_a_stage_of_dvc_yaml():
    from advlab.models.checkpoint import train_stage

    stages = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    hints = {}
    for path in (ROOT / "src").rglob("*.py"):
        for m in HINT.finditer(path.read_text()):
            hints.setdefault(m[1], []).append(path.name)
    assert len(hints) >= 6 and sum(map(len, hints.values())) >= 12
    for hint, where in hints.items():
        if hint.startswith("{"):  # a computed stage name (train_stage / retrain_hint): checked below
            continue
        base = hint.split("@")[0]
        assert base in stages, f"{where}: `dvc repro {hint}` names no stage of dvc.yaml"
    for folder, want in [("models/cnn", "train@cnn"), ("models/membership/targets/base", "mia_train@targets"),
                         ("models/membership/shadows/003", "mia_train@shadows"),
                         ("models/membership/references/000", "mia_train@references")]:
        assert train_stage(Path(folder)) == want and want.split("@")[0] in stages


# --- item 4: reports follow params ------------------------------------------------------------------
def _fake_model_results(root: Path, name: str) -> None:
    train, ev = root / "results/models/train", root / "results/models/evaluate"
    train.mkdir(parents=True, exist_ok=True)
    ev.mkdir(parents=True, exist_ok=True)
    (train / f"{name}.json").write_text(json.dumps({
        "arch": "small_cnn", "parameters": 1234, "epochs": 2, "train_accuracy": 0.9, "train_seconds": 1.0,
        "samples_per_s": 100.0, "device": "cpu"}))
    (ev / f"{name}.json").write_text(json.dumps({"accuracy": 0.8, "nll": 0.5, "ece": 0.05, "mce": 0.1, "ks": 0.04,
                                                 "mean_confidence": 0.85}))
    (train / f"{name}_history.csv").write_text("epoch,train_loss,val_accuracy,val_ece\n1,1.0,0.7,0.1\n2,0.6,0.8,0.05\n")
    (ev / f"{name}_reliability.csv").write_text("lo,hi,accuracy,confidence,count\n0.0,0.5,0.4,0.45,10\n"
                                                "0.5,1.0,0.9,0.85,90\n")


def test_models_report_shows_exactly_the_models_of_params(project, capsys):
    """A removed model's lingering results are left out; a model with no results is named, not a crash."""
    import shutil

    from advlab.stages import report

    shutil.copytree(ROOT / "notebooks", project / "notebooks")
    (project / "dvc.yaml").write_text("stages: {}\n")  # notebooks find the repository root by it
    raw = mia_params()
    raw["models"]["cnn_new"] = copy.deepcopy(raw["models"]["cnn"])
    write(project, raw)
    for name in ("cnn", "cnn_removed"):
        _fake_model_results(project, name)
    before = tree_hash(project, skip=("reports", "metrics", "checkpoints"))
    assert report.main(["models"]) == 0, capsys.readouterr().err
    html = (project / "reports/models.html").read_text()
    assert "cnn_removed" not in html
    assert re.search(r"Missing results</strong> for cnn_new", html)
    metrics = (project / "reports/figures/models/metrics.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in metrics[1:]] == ["cnn"]
    assert tree_hash(project, skip=("reports", "metrics", "checkpoints")) == before
    # nothing at all for the models of params: one line, no traceback
    raw["models"] = {"cnn_new": raw["models"]["cnn_new"]}
    raw.pop("membership"), raw.update(reports=["models"])
    write(project, raw)
    assert report.main(["models"]) == 2
    one_line_error(capsys.readouterr(), r"report: notebooks/models\.ipynb failed in cell \d+: AssertionError: "
                                        r"no results under .* for the models of params\.yaml \(cnn_new\)")
