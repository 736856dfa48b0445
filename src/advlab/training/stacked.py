"""Train many small models at once: the shadow/reference models of membership attacks.

LiRA-style attacks need many shadow models of the same architecture, each on its own
subset of one pool (a keep matrix). :func:`train_stacked` trains all of them in one
loop: ``torch.func.stack_module_state`` stacks their parameters along a new leading
axis, ``torch.func.functional_call`` under ``torch.func.vmap`` runs every copy on its
own batch, and one optimizer steps the stacked tensors. SGD (with momentum and weight
decay) and Adam are elementwise, so stepping the stack is the same arithmetic as
stepping each model alone; :func:`train_sequential` is that plain baseline, and with
the same initial models and the same batch plan both give the same models up to
float rounding.

BatchNorm is refused (an :class:`AdvlabError`): its running-statistics update is an
in-place write that vmap cannot batch, and ``torch.func.replace_all_batch_norm_modules_``
would silently make the model use batch statistics at evaluation too, changing the
model the attack is run against. Use GroupNorm/LayerNorm (or no normalisation) in
models trained here. Dropout works (``randomness="different"``), but its masks then
differ from the sequential run.

Batches: per model, the member indices ``keep[k]`` are shuffled once per epoch with a
generator seeded by ``(seed, k)``, and each step takes the next ``batch_size`` of
them (:func:`batch_plan`), so every model sees only its own members.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from advlab.errors import check


@dataclass
class TrainResult:
    """Trained copies, the per-step training loss of each ``(steps, K)``, and wall time."""

    models: list[nn.Module]
    losses: np.ndarray
    seconds: float


def init_models(make_model: Callable[[], nn.Module], n: int, seed: int) -> list[nn.Module]:
    """``n`` fresh models, model ``k`` initialised under ``torch.manual_seed(seed + k)``."""
    check(n >= 1, f"n must be >= 1; got {n}")
    models = []
    with torch.random.fork_rng(devices=[]):
        for k in range(n):
            torch.manual_seed(seed + k)
            models.append(make_model())
    return models


def batch_plan(keep, steps: int, batch_size: int, seed: int) -> np.ndarray:
    """Indices ``(K, steps, batch_size)``: model k's batches, drawn only from its members ``keep[k]``."""
    keep = np.asarray(keep)
    check(keep.ndim == 2 and keep.dtype == np.bool_, f"keep must be a bool array (K, N); got {keep.dtype} {keep.shape}")
    check(steps >= 1 and batch_size >= 1, f"steps and batch_size must be >= 1; got steps={steps}, batch_size={batch_size}")
    counts = keep.sum(1)
    check(counts.min() >= 1, f"model {int(counts.argmin())} has no members in keep; every model needs training data")
    need = steps * batch_size
    plan = np.empty((keep.shape[0], need), dtype=np.int64)
    for k in range(keep.shape[0]):
        rng = np.random.default_rng([seed, k])
        members = np.flatnonzero(keep[k])
        epochs = -(-need // members.size)
        plan[k] = np.concatenate([rng.permutation(members) for _ in range(epochs)])[:need]
    return plan.reshape(keep.shape[0], steps, batch_size)


def _check_inputs(models: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor, keep) -> np.ndarray:
    check(len(models) >= 1, "models must hold at least one model")
    keep = np.asarray(keep)
    check(keep.shape == (len(models), x.shape[0]),
          f"keep must have shape (n_models, n_examples) = ({len(models)}, {x.shape[0]}); got {keep.shape}")
    check(y.shape == (x.shape[0],), f"y must have shape ({x.shape[0]},); got {tuple(y.shape)}")
    for m in models:
        bn = [n for n, mod in m.named_modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
        check(not bn, f"stacked training does not support BatchNorm (found {bn[:3]}); use GroupNorm or LayerNorm "
                      f"(see advlab.training.stacked docstring)")
    return keep


def _optimizer(params, optimizer: str, lr: float, momentum: float, weight_decay: float):
    check(optimizer in ("sgd", "adam"), f"optimizer must be 'sgd' or 'adam'; got {optimizer!r}")
    check(lr > 0, f"lr must be > 0; got {lr}")
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def train_stacked(models: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor, keep, *, steps: int,
                  batch_size: int = 64, lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 0.0,
                  optimizer: Literal["sgd", "adam"] = "sgd", seed: int = 0,
                  plan: np.ndarray | None = None) -> TrainResult:
    """Train copies of ``models`` (same architecture) at once with vmap; model k on ``keep[k]``.

    ``x``/``y`` is the pool on the device to train on; the inputs are not modified.
    ``plan`` overrides :func:`batch_plan` (shape ``(K, steps, B)``).
    """
    keep = _check_inputs(models, x, y, keep)
    plan = batch_plan(keep, steps, batch_size, seed) if plan is None else np.asarray(plan)
    k = len(models)
    check(plan.shape[:2] == (k, steps), f"plan must have shape ({k}, {steps}, B); got {plan.shape}")
    t0 = time.perf_counter()
    models = [copy.deepcopy(m).to(x.device).train() for m in models]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")

    def one_loss(p, b, xb, yb):
        return nn.functional.cross_entropy(functional_call(base, (p, b), (xb,)), yb)

    batched = vmap(one_loss, randomness="different")
    opt = _optimizer(list(params.values()), optimizer, lr, momentum, weight_decay)
    plan_t = torch.from_numpy(plan).to(x.device)
    losses = np.empty((steps, k))
    for step in range(steps):
        idx = plan_t[:, step]  # (K, B)
        loss = batched(params, buffers, x[idx], y[idx])  # (K,)
        opt.zero_grad(set_to_none=True)
        # the sum's gradient w.r.t. slice k of a stacked tensor is model k's own gradient
        loss.sum().backward()
        opt.step()
        losses[step] = loss.detach().cpu().numpy()
    with torch.no_grad():
        for i, m in enumerate(models):
            for n, t in m.named_parameters():
                t.copy_(params[n][i])
            for n, t in m.named_buffers():
                t.copy_(buffers[n][i])
    return TrainResult(models, losses, time.perf_counter() - t0)


def train_sequential(models: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor, keep, *, steps: int,
                     batch_size: int = 64, lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 0.0,
                     optimizer: Literal["sgd", "adam"] = "sgd", seed: int = 0,
                     plan: np.ndarray | None = None) -> TrainResult:
    """The plain baseline of :func:`train_stacked`: the same models, batches and optimizer, one model at a time."""
    keep = _check_inputs(models, x, y, keep)
    plan = batch_plan(keep, steps, batch_size, seed) if plan is None else np.asarray(plan)
    k = len(models)
    check(plan.shape[:2] == (k, steps), f"plan must have shape ({k}, {steps}, B); got {plan.shape}")
    t0 = time.perf_counter()
    plan_t = torch.from_numpy(plan).to(x.device)
    out, losses = [], np.empty((steps, k))
    for i, m in enumerate(models):
        m = copy.deepcopy(m).to(x.device).train()
        opt = _optimizer(m.parameters(), optimizer, lr, momentum, weight_decay)
        for step in range(steps):
            idx = plan_t[i, step]
            loss = nn.functional.cross_entropy(m(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses[step, i] = loss.item()
        out.append(m)
    return TrainResult(out, losses, time.perf_counter() - t0)
