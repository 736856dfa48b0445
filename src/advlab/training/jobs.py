"""One place that turns a model recipe, the examples it trains on and a seed into a
trained, saved model, with resume: the ``train`` stage and the membership family's
shadows, references and targets all train through :func:`train_job`.

A :class:`Recipe` is an architecture, its options and :class:`~advlab.params.TrainParams`,
optionally with DP-SGD (:func:`advlab.training.dp.fit_private`) or early stopping
(validation NLL, ``patience`` epochs, the best epoch's weights kept). A :class:`Job` is a
recipe, the dataset indices it trains on and a seed; its ``key`` fingerprints all three
(with the split plan), names its epoch checkpoints and tells whether a saved model was
trained with exactly these settings (:meth:`Job.saved`).

Order of random draws (kept so results do not move): ``torch.manual_seed(seed)``, build
the model, then the loop (seeded with ``seed``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from advlab.data.prepared import channel_stats, to_tensors
from advlab.io import read_json, sha256_of
from advlab.models.checkpoint import model_name, save_model, weights_match
from advlab.models.zoo import build_model
from advlab.params import DPParams, EarlyStoppingParams, TrainParams
from advlab.training.early_stopping import EarlyStopping, StopTraining
from advlab.training.loop import FitResult, clear_resume, fingerprint, fit, quick_eval
from advlab.training.objectives import make_objective


@dataclass
class Recipe:
    arch: str
    options: dict
    train: TrainParams
    dp: DPParams | None = None
    early_stopping: EarlyStoppingParams | None = None

    def to_dict(self) -> dict:
        return {"arch": self.arch, "options": self.options, "train": self.train.model_dump(),
                "dp": self.dp.model_dump() if self.dp else None,
                "early_stopping": self.early_stopping.model_dump() if self.early_stopping else None}


def make_recipe_objective(train: TrainParams):
    """``train.objective`` with its options (and label smoothing when set)."""
    options = dict(train.objective_options)
    if train.label_smoothing:
        options["label_smoothing"] = train.label_smoothing
    return make_objective(train.objective, **options)


@dataclass
class Trained:
    """A trained model and how it got there."""

    model: torch.nn.Module
    result: FitResult
    extra: dict = field(default_factory=dict)  # "privacy" (DP-SGD) or "early_stopping" summaries
    train_eval: dict = field(default_factory=dict)  # quick_eval on the training examples
    seconds: float = 0.0  # wall time of the whole job (build, fit, evaluation)


class Job:
    """Train ``recipe`` on the dataset examples ``index`` from ``seed`` (split plan ``plan_hash``)."""

    def __init__(self, ds, index: np.ndarray, recipe: Recipe, *, seed: int, plan_hash: str):
        self.ds, self.index, self.recipe, self.seed, self.plan_hash = ds, np.asarray(index), recipe, seed, plan_hash
        mean, std = channel_stats(to_tensors(ds, self.index)[0])
        self.spec = {"arch": recipe.arch, "input_shape": list(ds.input_shape), "num_classes": ds.num_classes,
                     "options": {**recipe.options, "mean": mean, "std": std}}
        r = recipe.to_dict()
        self.key = fingerprint(self.spec, r["train"], r["dp"], r["early_stopping"], seed, plan_hash,
                               sha256_of(self.index))

    def saved(self, folder: Path) -> dict | None:
        """The sidecar of a model saved in ``folder`` by this very job (same key), else None.

        Only a sidecar that is this folder's (its ``name``), describes this job's model (its
        ``spec``) and whose weights file is the one it records (its sha256) counts: a damaged,
        swapped or edited checkpoint is retrained, not reused."""
        if (folder / "model.json").is_file():
            try:
                side = read_json(folder / "model.json")
            except ValueError:
                print(f"{folder / 'model.json'}: unreadable sidecar; retraining")
                return None
            if not (isinstance(side, dict) and side.get("train_key") == self.key):
                return None  # another job's model (changed params): retrain without a word
            if side.get("name") != model_name(folder) or side.get("spec") != json.loads(json.dumps(self.spec)):
                print(f"{folder / 'model.json'}: the sidecar belongs to another model; retraining")
            elif not weights_match(folder, side):
                print(f"{folder / 'model.safetensors'}: missing, damaged or not the weights the sidecar records; "
                      f"retraining")
            else:
                return side
        return None

    def run(self, *, device, resume_dir: Path | None, desc: str, val=None) -> Trained:
        """Build and train the model (resumable from ``resume_dir``); ``val`` = (x, y) is needed by early stopping."""
        rc, t0 = self.recipe, time.perf_counter()
        x, y = to_tensors(self.ds, self.index)  # built here, not held: a stage may hold many jobs
        torch.manual_seed(self.seed)
        model = build_model(rc.arch, self.ds.input_shape, self.ds.num_classes, **dict(self.spec["options"]))
        objective = make_recipe_objective(rc.train)
        common = dict(seed=self.seed, device=device, resume_dir=resume_dir, resume_key=self.key, desc=desc)
        extra: dict = {}
        if rc.dp is not None:
            from advlab.training.dp import fit_private

            result, spent = fit_private(model, x, y, rc.train, objective, epsilon=rc.dp.epsilon,
                                        delta=rc.dp.delta, max_grad_norm=rc.dp.max_grad_norm, val=val, **common)
            extra["privacy"] = spent.to_dict()
        elif rc.early_stopping is not None:
            stopper = EarlyStopping(model, rc.early_stopping.patience, resume_dir, self.key)
            try:
                result = fit(model, x, y, rc.train, objective, val=val, on_epoch_end=stopper, **common)
            except StopTraining:
                rows = stopper.rows
                result = FitResult(rows, sum(r["seconds"] for r in rows), len(x) * len(rows))
            stopper.restore()
            model.eval()
            extra["early_stopping"] = stopper.summary()
        else:
            result = fit(model, x, y, rc.train, objective, val=val, **common)
        train_eval = quick_eval(model, x, y, device=device)
        return Trained(model, result, extra, train_eval, time.perf_counter() - t0)

    def save(self, folder: Path, trained: Trained, sidecar: dict) -> None:
        save_model(folder, trained.model, self.spec, sidecar)


def default_metrics(job: Job, trained: Trained) -> dict:
    """What a sidecar records by default: the training examples' accuracy / NLL, epochs and seconds."""
    return {"examples": int(len(job.index)), "epochs": job.recipe.train.epochs,
            "epochs_run": len(trained.result.history), "train_seconds": trained.result.seconds,
            "train_accuracy": trained.train_eval["accuracy"], "train_nll": trained.train_eval["nll"], **trained.extra}


def default_sidecar(job: Job, metrics: dict) -> dict:
    """Recipe, metrics, plan hash, index hash and the job's key (what makes a later run reuse the model)."""
    return {"params": job.recipe.to_dict(), "metrics": metrics, "plan_hash": job.plan_hash,
            "train_index_hash": sha256_of(job.index), "train_key": job.key}


def reused(job: Job, folder: Path) -> dict | None:
    """The metrics of the model in ``folder`` when this very job saved it, marked ``reused``; else None."""
    side = job.saved(folder)
    return None if side is None else {**side["metrics"], "reused": True}


def train_job(job: Job, folder: Path, *, device, resume_dir: Path, desc: str, val=None, metrics=None,
              sidecar=None, reuse: bool = True) -> tuple[dict, Trained | None]:
    """Train ``job`` (or reuse the model in ``folder`` when ``reuse`` and it was saved by this very job),
    save it to ``folder``, return ``(metrics, trained)`` (``trained`` None when reused).

    ``metrics(trained) -> dict`` builds what the sidecar records (default
    :func:`default_metrics`); ``sidecar(metrics) -> dict`` the sidecar (default
    :func:`default_sidecar`). The resume folder is cleared once the model is saved. A stage
    training several models uses the pieces instead (:func:`reused`, :meth:`Job.run`, :meth:`Job.save`)
    with :mod:`advlab.compute` (see :mod:`advlab.study.membership.train`).
    """
    if reuse and (m := reused(job, folder)) is not None:
        return m, None
    trained = job.run(device=device, resume_dir=resume_dir, desc=desc, val=val)
    m = metrics(trained) if metrics is not None else default_metrics(job, trained)
    job.save(folder, trained, sidecar(m) if sidecar is not None else default_sidecar(job, m))
    clear_resume(resume_dir)
    return m, trained
