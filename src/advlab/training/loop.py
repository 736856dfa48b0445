"""The one training loop: pluggable objective, optimiser and schedule, resumable.

Resumption is exact: every epoch starts by seeding the global RNG from
``(seed, epoch)``, so shuffling, augmentation and dropout inside an epoch depend
only on those two numbers, and a run resumed from the epoch-``k`` checkpoint
reproduces the uninterrupted run's weights bit for bit (on the same machine).

On a CUDA device the hot loop never waits for the GPU: the training examples are moved
there once (:func:`place_examples`; when they do not fit, each batch goes through pinned
host memory with an asynchronous copy), augmentation runs on the GPU, and the epoch's loss
is summed on the device and read (and checked for NaN/inf) once per epoch, or every
``POSTFIX_EVERY`` steps while a progress bar shows it. ``cfg.precision: bf16`` runs the
objective (forward and loss) under ``torch.autocast`` in bfloat16; the weights and the
optimiser stay fp32. On the CPU every number is what it was before these changes.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from advlab.data.augment import augment
from advlab.errors import AdvlabError
from advlab.io import read_json, write_json
from advlab.metrics.calibration import ece
from advlab.models.checkpoint import load_tensors, save_tensors
from advlab.progress import progress
from advlab.training.objectives import Objective


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    samples_seen: int = 0

    @property
    def samples_per_s(self) -> float:
        return self.samples_seen / self.seconds if self.seconds else float("nan")


def make_optimizer(model: torch.nn.Module, cfg) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(schedule: str, progress_frac: float, warmup: float) -> float:
    """Learning-rate multiplier at a fraction of training (a pure function: nothing to resume).

    ``constant``: 1. ``cosine``: cosine decay from 1 to 0. ``warmup_cosine``: a linear warm-up
    from 0.04 to 1 over the first ``warmup`` fraction, then cosine decay to 0 (not torch's
    ``OneCycleLR``, whose warm-up is a cosine from 1/25; the name ``onecycle`` was retired
    for that reason)."""
    if schedule == "constant":
        return 1.0
    if schedule == "warmup_cosine" and progress_frac < warmup:
        return 0.04 + 0.96 * progress_frac / warmup
    start = warmup if schedule == "warmup_cosine" else 0.0
    t = (progress_frac - start) / max(1e-12, 1.0 - start)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


@torch.no_grad()
def predict_proba(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 512, device="cpu") -> torch.Tensor:
    """Softmax probabilities in eval mode, batched; returned on the CPU."""
    was_training = model.training
    model.eval()
    out = [model(x[i : i + batch_size].to(device, non_blocking=True)).float().softmax(1)
           for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).cpu() if out else torch.empty(0)  # one copy back, not one per batch


def quick_eval(model, x, y, device="cpu") -> dict[str, float]:
    p = predict_proba(model, x, device=device)
    return {
        "accuracy": float((p.argmax(1) == y).float().mean()),
        "nll": float(F.nll_loss(p.clamp_min(1e-12).log(), y)),
        "ece": ece(p, y),
    }


POSTFIX_EVERY = 50  # steps between progress-bar loss updates (each one reads the loss from the device)
DEVICE_FRACTION = 0.5  # examples go to the GPU when they take at most this share of its free memory


def placement(nbytes: int, device: torch.device, free_bytes: int | None) -> str:
    """Where the training examples live during :func:`fit`: ``"as_is"`` (not a CUDA device: the
    CPU path is untouched), ``"device"`` (moved to the GPU once: they take at most
    ``DEVICE_FRACTION`` of its free memory) or ``"pinned"`` (they stay in host memory and each
    batch is gathered into page-locked memory and copied asynchronously)."""
    if device.type != "cuda":
        return "as_is"
    return "device" if free_bytes is not None and nbytes <= DEVICE_FRACTION * free_bytes else "pinned"


def place_examples(x: torch.Tensor, y: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(x, y, where)``: the examples moved where :func:`placement` says (the ``"pinned"`` case
    leaves them where they are: a gathered batch is a new tensor, so it is the batch that gets
    pinned, not the whole set)."""
    device = torch.device(device)
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None
    where = placement(x.nbytes + y.nbytes, device, free)
    if where == "device":
        return x.to(device), y.to(device), where
    return x, y, where


def autocast(precision: str, device) -> "torch.autocast | nullcontext":
    """The objective's precision context: bf16 autocast, or nothing at all for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return nullcontext()


def check_finite(loss_sum: float, desc: str, epoch: int) -> None:
    if not math.isfinite(loss_sum):
        raise AdvlabError(f"{desc}: the loss became {loss_sum} at epoch {epoch}; lower the learning rate")


def fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Resume:
    """Epoch checkpoints under ``folder``: ``state.json`` names the epoch and the weights file."""

    def __init__(self, folder: Path | None, key: str):
        self.folder, self.key = folder, key

    def load(self, model, opt) -> tuple[int, FitResult]:
        if self.folder is None or not (self.folder / "state.json").is_file():
            return 0, FitResult()
        try:
            state = read_json(self.folder / "state.json")
            if state["key"] != self.key:
                warnings.warn(f"{self.folder}: checkpoint is from other settings; starting over", stacklevel=2)
                return 0, FitResult()
            tensors = load_tensors(self.folder / state["weights"], "it will be discarded")
        except (AdvlabError, ValueError, KeyError) as err:
            warnings.warn(f"{self.folder}: unusable resume checkpoint ({err}); starting over", stacklevel=2)
            return 0, FitResult()
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        opt_state = state["optimizer"]
        for pid, slots in opt_state["state"].items():
            for name in slots:
                slots[name] = tensors[f"opt.{pid}.{name}"]
        opt_state["state"] = {int(k): v for k, v in opt_state["state"].items()}
        opt.load_state_dict(opt_state)
        done = FitResult(state["history"], state["seconds"], state["samples_seen"])
        return state["epoch"], done

    def save(self, epoch: int, model, opt, result: FitResult) -> None:
        if self.folder is None:
            return
        opt_state = opt.state_dict()
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        slots = {}
        for pid, s in opt_state["state"].items():
            slots[str(pid)] = {}
            for name, v in s.items():
                tensors[f"opt.{pid}.{name}"] = v if torch.is_tensor(v) else torch.tensor(v)
                slots[str(pid)][name] = None
        weights = f"epoch{epoch:04d}.safetensors"
        save_tensors(self.folder / weights, tensors)
        write_json(self.folder / "state.json", {
            "key": self.key, "epoch": epoch, "weights": weights,
            "optimizer": {"state": slots, "param_groups": opt_state["param_groups"]},
            "history": result.history, "seconds": result.seconds, "samples_seen": result.samples_seen,
        })
        for old in self.folder.glob("epoch*.safetensors"):
            if old.name != weights:
                old.unlink(missing_ok=True)


def fit(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg,
    objective: Objective,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    resume_dir: str | Path | None = None,
    resume_key: str = "",
    on_epoch_end: Callable[[int, dict], None] | None = None,
    desc: str = "train",
    optimizer: torch.optim.Optimizer | None = None,
    batches: Callable[[int, int], torch.Tensor] | None = None,
) -> FitResult:
    """Train ``model`` on ``(x, y)`` for ``cfg.epochs`` epochs (:class:`advlab.params.TrainParams`).

    With ``resume_dir``, a checkpoint is written after every epoch and a later call
    with the same ``resume_key`` continues from the last one. The caller removes the
    folder (``clear_resume``) once the final model is safely written.

    ``optimizer`` replaces the one built from ``cfg`` and ``batches(n, batch_size)``
    draws each step's example indices instead of the epoch's shuffled slices; DP-SGD
    (:mod:`advlab.training.dp`) passes Opacus' DPOptimizer and Poisson sampling.
    """
    model.to(device)
    opt = optimizer if optimizer is not None else make_optimizer(model, cfg)
    resume = _Resume(Path(resume_dir) if resume_dir else None, resume_key)
    start, result = resume.load(model, opt)
    x, y, where = place_examples(x, y, device)
    n = len(x)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    bar = progress(total=total, initial=start * steps_per_epoch, desc=desc, unit="step")
    for epoch in range(start, cfg.epochs):
        torch.manual_seed(seed * 100_003 + epoch)
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n).to(x.device) if batches is None else None  # the CPU draw, as before
        # the epoch's loss, summed where the model is: float64 holds exactly what the python-float
        # sum of loss.item() * len(idx) held (a float32 widened, a product, a sum: the same roundings)
        loss_sum, seen = torch.zeros((), dtype=torch.float64, device=device), 0
        for step in range(steps_per_epoch):
            if batches is None:
                idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            else:
                idx = batches(n, cfg.batch_size)
                if len(idx) == 0:  # a Poisson draw can be empty; nothing to step on
                    bar.update(1)
                    continue
                idx = idx.to(x.device, non_blocking=True)
            if where == "pinned":  # gather on the host into page-locked memory, copy asynchronously
                xb = x[idx].pin_memory().to(device, non_blocking=True)
                yb = y[idx].pin_memory().to(device, non_blocking=True)
                xb = augment(xb, cfg.augment)
            else:
                xb, yb = augment(x[idx], cfg.augment).to(device), y[idx].to(device)
            frac = (epoch * steps_per_epoch + step) / total
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(cfg.schedule, frac, cfg.warmup)
            with autocast(cfg.precision, device):
                loss = objective(model, xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach().double() * len(idx)
            seen += len(idx)
            bar.update(1)
            if not bar.disable and ((step + 1) % POSTFIX_EVERY == 0 or step + 1 == steps_per_epoch):
                shown = float(loss_sum)
                check_finite(shown, desc, epoch + 1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{shown / seen:.3f}")
        loss_sum = float(loss_sum)  # the epoch's one read of the loss
        check_finite(loss_sum, desc, epoch + 1)
        train_seconds = time.perf_counter() - t0
        row = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "train_loss": loss_sum / max(seen, 1),
               "seconds": train_seconds}
        if val is not None:
            row.update({f"val_{k}": v for k, v in quick_eval(model, *val, device=device).items()})
        result.history.append(row)
        result.seconds += train_seconds
        result.samples_seen += seen
        if on_epoch_end is not None:  # before the checkpoint: a kill in between reruns this epoch, not skips it
            on_epoch_end(epoch + 1, row)
        resume.save(epoch + 1, model, opt, result)
    bar.close()
    model.eval()
    return result


def clear_resume(resume_dir: str | Path) -> None:
    shutil.rmtree(resume_dir, ignore_errors=True)
