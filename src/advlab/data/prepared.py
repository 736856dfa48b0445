"""The prepared dataset and split plan on disk (outputs of the ``prepare`` stage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from advlab.data.sources import Dataset
from advlab.data.split import SplitPlan
from advlab.errors import AdvlabError
from advlab.io import read_npz, write_npz

PREPARED = Path("data/prepared")


def save_dataset(ds: Dataset, folder: Path = PREPARED) -> None:
    write_npz(folder / "dataset.npz", images=ds.images, labels=ds.labels, is_test=ds.is_test,
              classes=np.array(ds.classes), name=np.array(ds.name))


def load_prepared(folder: Path = PREPARED) -> tuple[Dataset, SplitPlan]:
    """Load what ``prepare`` wrote; a missing or damaged file gives one clear message."""
    folder = Path(folder)
    try:
        z = read_npz(folder / "dataset.npz")
        plan = SplitPlan.load(folder / "split.npz", folder / "split.json")
    except (FileNotFoundError, KeyError, ValueError, OSError) as err:
        raise AdvlabError(f"{folder}: prepared data missing or damaged ({err}); run `dvc repro prepare`") from None
    ds = Dataset(str(z["name"]), z["images"], z["labels"], z["is_test"], [str(c) for c in z["classes"]])
    return ds, plan


def to_tensors(ds: Dataset, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in ``[0, 1]`` (float32, N×C×H×W) and int64 labels for the rows ``idx``."""
    x = torch.from_numpy(ds.images[idx]).float().div_(255.0)
    y = torch.from_numpy(ds.labels[idx])
    return x, y


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std, the normalisation the models apply inside."""
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
