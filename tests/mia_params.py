"""A small membership-family params file on digits, shared by the stage and params tests, and
a prepared project folder to run stages in."""

from __future__ import annotations

import contextlib

import pytest
import yaml


def params(**membership) -> dict:
    m = {
        "target_model": "cnn",
        "recipe": {"options": {"width": 4, "hidden": 16, "dropout": 0.0}, "train": {"epochs": 6, "batch_size": 32}},
        "pool": 200, "population": 60, "references": 2, "queries": ["id", "flip"],
        "targets": {
            "base": {"role": "baseline"},
            "early": {"role": "defense", "early_stopping": {"patience": 1}},
            "dp_eps2": {"role": "defense", "options": {"norm": "group"}, "train": {"epochs": 2}, "dp": {"epsilon": 2.0}},
        },
        "attack": {"ldc_epochs": 5},
    }
    m.update(membership)
    return {
        "seed": 0, "device": "cpu", "data": {"dataset": "digits"},
        "split": {"target_pool": 600, "validation": 100, "auxiliary": 150, "population": 60, "test": 200,
                  "attack_eval": 100, "shadow_models": 4},
        "models": {"cnn": {"arch": "small_cnn", "options": {"width": 4, "hidden": 16, "norm": "batch"},
                           "train": {"epochs": 2, "batch_size": 64, "optimizer": "adam", "lr": 0.01, "augment": []}}},
        "reports": ["models", "membership"],
        "membership": m,
    }


def write(tmp_path, raw: dict) -> None:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


@contextlib.contextmanager
def prepared_project(tmp_path_factory, name: str, raw: dict):
    """A temporary project folder, as the working directory (no progress bars, no ADVLAB_PARAMS),
    with ``raw`` as its params.yaml and its data prepared; restored on exit."""
    from advlab.stages import prepare

    tmp = tmp_path_factory.mktemp(name)
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp)
    mp.setenv("CI", "true")
    mp.delenv("ADVLAB_PARAMS", raising=False)
    write(tmp, raw)
    try:
        assert prepare.main([]) == 0
        yield tmp
    finally:
        mp.undo()
