"""The prepared dataset and split plan on disk (outputs of the ``prepare`` stage)."""

from __future__ import annotations

import json
import zipfile
import zlib
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
    """Load what ``prepare`` wrote; a missing or damaged file gives one line naming it."""
    folder = Path(folder)

    def guarded(what: str, read):
        try:
            return read()
        except FileNotFoundError as err:
            raise AdvlabError(f"{err.filename or folder / what}: prepared data missing; run `dvc repro prepare`") from None
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            what = "split.json" if isinstance(err, json.JSONDecodeError) else what
            raise AdvlabError(f"{folder / what}: prepared data damaged or truncated ({type(err).__name__}: {err}); "
                              "run `dvc repro prepare`") from None

    def dataset() -> Dataset:
        z = read_npz(folder / "dataset.npz")
        return Dataset(str(z["name"]), z["images"], z["labels"], z["is_test"], [str(c) for c in z["classes"]])

    ds = guarded("dataset.npz", dataset)
    plan = guarded("split.npz", lambda: SplitPlan.load(folder / "split.npz", folder / "split.json"))
    return ds, plan


def to_tensors(ds: Dataset, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in ``[0, 1]`` (float32, N×C×H×W) and int64 labels for the rows ``idx``."""
    x = torch.from_numpy(ds.images[idx]).float().div_(255.0)
    y = torch.from_numpy(ds.labels[idx])
    return x, y


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std, the normalisation the models apply inside."""
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
