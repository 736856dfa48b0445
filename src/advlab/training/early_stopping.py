"""Early stopping on the validation NLL that survives a kill.

Used as :func:`advlab.training.loop.fit`'s ``on_epoch_end``: it keeps the weights of the
epoch with the lowest validation NLL and raises :class:`StopTraining` once ``patience``
epochs have passed without a new best. With a ``folder`` (the fit's resume folder) the
best weights and the epoch history are written there after every epoch, before the fit's
own epoch checkpoint, so a run killed at any point and resumed stops at the same epoch
and restores the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from advlab.errors import AdvlabError
from advlab.io import read_json, write_json
from advlab.models.checkpoint import load_tensors, save_tensors

STATE = "early_stopping.json"


class StopTraining(Exception):
    """Raised from ``on_epoch_end`` when patience has run out."""


class EarlyStopping:
    def __init__(self, model: torch.nn.Module, patience: int, folder: str | Path | None = None, key: str = ""):
        self.model, self.patience, self.key = model, patience, key
        self.folder = Path(folder) if folder else None
        self.best_nll, self.best_epoch = math.inf, 0
        self.rows: list[dict] = []
        self.state: dict[str, torch.Tensor] | None = None
        self._load()

    def __call__(self, epoch: int, row: dict) -> None:
        self.rows = [r for r in self.rows if r["epoch"] < epoch] + [row]
        if row["val_nll"] < self.best_nll:
            self.best_nll, self.best_epoch = row["val_nll"], epoch
            self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self._save()
        if epoch - self.best_epoch >= self.patience:
            raise StopTraining

    def restore(self) -> None:
        """Load the best epoch's weights into the model (no-op before the first epoch)."""
        if self.state is not None:
            self.model.load_state_dict(self.state)

    def summary(self) -> dict:
        return {"best_epoch": self.best_epoch, "epochs_run": len(self.rows), "best_val_nll": self.best_nll}

    def _weights(self) -> str:
        return f"best_epoch{self.best_epoch:04d}.safetensors"

    def _save(self) -> None:
        if self.folder is None:
            return
        weights = self._weights()
        if self.state is not None and not (self.folder / weights).is_file():
            save_tensors(self.folder / weights, self.state)
        write_json(self.folder / STATE, {"key": self.key, "best_epoch": self.best_epoch, "best_nll": self.best_nll,
                                         "weights": weights, "rows": self.rows})
        for old in self.folder.glob("best_epoch*.safetensors"):
            if old.name != weights:
                old.unlink(missing_ok=True)

    def _load(self) -> None:
        if self.folder is None or not (self.folder / STATE).is_file():
            return
        saved = read_json(self.folder / STATE)
        if saved.get("key") != self.key:
            return
        try:
            state = load_tensors(self.folder / saved["weights"], "it will be discarded") if saved["best_epoch"] else None
        except AdvlabError:
            return
        self.best_nll, self.best_epoch, self.rows, self.state = saved["best_nll"], saved["best_epoch"], saved["rows"], state
