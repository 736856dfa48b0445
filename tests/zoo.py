"""Zoo models of the tiny profile (plus a tiny ResNet), trained for a few seconds on digits.

Session fixtures ``digits_split`` and ``tiny_models``, made available to every test folder
by ``tests/conftest.py``."""

import numpy as np
import pytest
import torch

from advlab.data.prepared import channel_stats
from advlab.models.zoo import build_model
from advlab.params import TrainParams
from advlab.profiles import resolve
from advlab.training.loop import fit
from advlab.training.objectives import make_objective


def _tensors(ds, idx):
    return torch.from_numpy(ds.images[idx]).float() / 255.0, torch.from_numpy(ds.labels[idx])


@pytest.fixture(scope="session")
def digits_split(digits):
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(ds_labels := digits.labels))
    train, val, test = perm[:1000], perm[1000:1300], perm[1300:]
    return {"train": _tensors(digits, train), "val": _tensors(digits, val), "test": _tensors(digits, test),
            "num_classes": digits.num_classes, "input_shape": digits.input_shape, "n": len(ds_labels)}


def train_zoo(arch, options, train, split, seed=0):
    x, y = split["train"]
    mean, std = channel_stats(x)
    torch.manual_seed(seed)
    model = build_model(arch, split["input_shape"], split["num_classes"], **options, mean=mean, std=std)
    cfg = TrainParams(**train)
    fit(model, x, y, cfg, make_objective(cfg.objective, **cfg.objective_options), seed=seed)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_models(digits_split):
    """Every zoo architecture: the tiny profile's cnn and vit (their own recipes, a few more
    epochs so they are accurate), and a width-8 ResNet (the tiny profile has none)."""
    torch.set_num_threads(1)
    tiny = resolve("tiny", folder=_profiles())["models"]
    out = {}
    for name in ("cnn", "vit"):
        m = tiny[name]
        out[name] = train_zoo(m["arch"], m.get("options", {}), {**m["train"], "epochs": 4}, digits_split)
    out["resnet"] = train_zoo("resnet", {"width": 8, "layers": [1, 1, 1, 1]},
                              {"epochs": 2, "batch_size": 64, "optimizer": "adam", "lr": 0.01}, digits_split)
    return out


def _profiles():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "profiles"
