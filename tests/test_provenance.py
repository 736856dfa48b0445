"""advlab.provenance: the checks `make study`, `make push` and `make pull` run before DVC does."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from advlab import provenance
from advlab.errors import AdvlabError

ROOT = Path(__file__).resolve().parents[1]


def _repo(tmp_path: Path, url: str | None) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".dvc").mkdir()
    config = "[core]\n    analytics = false\n"
    if url is not None:
        config += f"    remote = local\n['remote \"local\"']\n    url = {url}\n"
    (tmp_path / ".dvc" / "config").write_text(config)
    return tmp_path


def test_the_committed_config_names_a_local_remote_outside_the_repository():
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        name = repo.config["core"]["remote"]
        url = Path(repo.config["remote"][name]["url"])
    assert url.is_absolute() and ROOT not in url.parents and url != ROOT  # outside the repository


def test_pull_from_a_missing_remote_names_it(tmp_path):
    clone = tmp_path / "clone"
    clone.mkdir()
    _repo(clone, "../../no-such-remote")
    with pytest.raises(AdvlabError, match=r"DVC remote 'local' is .*no-such-remote, which does not exist"):
        provenance.remote("pull", clone)
    assert "no-such-remote" in provenance.remote("push", clone)  # push creates it (its parent exists)
    (tmp_path / "no-such-remote").mkdir()
    assert "no-such-remote" in provenance.remote("pull", clone)


def test_push_to_a_remote_under_a_missing_folder_is_refused(tmp_path):
    clone = _repo(tmp_path, str(tmp_path / "typo" / "remote"))
    with pytest.raises(AdvlabError, match=r"its folder .*typo does not exist"):
        provenance.remote("push", clone)


def test_no_default_remote_says_how_to_add_one(tmp_path):
    with pytest.raises(AdvlabError, match="no default DVC remote"):
        provenance.remote("push", _repo(tmp_path, None))


def test_an_object_store_remote_is_left_to_dvc(tmp_path):
    assert "s3://bucket/advlab" in provenance.remote("pull", _repo(tmp_path, "s3://bucket/advlab"))


def _lock(tmp_path: Path, dataset: str) -> Path:
    lock = tmp_path / "dvc.lock"
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {"prepare": {"cmd": "x", "params": {"params.yaml": {
        "data": {"dataset": dataset, "root": "data/raw"}, "split": {"seed": 0, "target_pool": 1000}}}}}}))
    return lock


def test_a_lock_from_another_profile_is_named(tmp_path):
    params = {"data": {"dataset": "fashion_mnist"}, "split": {"seed": 0, "target_pool": 1000}}
    note = provenance.lock_mismatch(params, _lock(tmp_path, "digits"))
    assert note and "data.dataset = 'digits'" in note and "'fashion_mnist'" in note and "dvc.lock" in note
    assert provenance.lock_mismatch(params, _lock(tmp_path, "fashion_mnist")) is None
    assert provenance.lock_mismatch(params, tmp_path / "absent.lock") is None


def test_a_garbled_lock_is_named(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text("stages: [unclosed\n")
    with pytest.raises(AdvlabError, match=r"dvc.lock is not a DVC lock file"):
        provenance.lock_mismatch({}, lock)


def test_a_metrics_file_edited_into_invalid_json_is_named(tmp_path):
    (tmp_path / "models.json").write_text(json.dumps({"baseline_accuracy": 0.9}))
    provenance.check_metrics(tmp_path)
    (tmp_path / "evasion.json").write_text('{"clean_accuracy": 0.9,}')
    with pytest.raises(AdvlabError, match=r"evasion.json is not valid JSON .*dvc repro -f report@evasion"):
        provenance.check_metrics(tmp_path)


def test_check_params_cli_prints_the_lock_note(tmp_path):
    params = (ROOT / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(params)
    _lock(tmp_path, "cifar10")
    done = subprocess.run([sys.executable, "-m", "advlab.cli", "check-params"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "dvc.lock was recorded with data.dataset = 'cifar10'" in done.stdout
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "models.json").write_text("{oops")
    done = subprocess.run([sys.executable, "-m", "advlab.cli", "check-params"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "metrics/models.json is not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr
