"""Saving the membership family's signals: every model queried once on the pool and the population."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from advlab.attacks.membership import Signals, compute_logits
from advlab.data.prepared import to_tensors
from advlab.errors import AdvlabError
from advlab.models.checkpoint import load_model, train_stage
from advlab.params import MembershipParams

from . import MODELS, SIGNALS, MiaData


def model_folders(kind: str, m: MembershipParams, data: MiaData) -> list[Path]:
    if kind == "targets":
        return [MODELS / "targets" / v for v in m.targets]
    count = len(data.shadow_keep) if kind == "shadows" else m.references
    folders = sorted((MODELS / kind).glob("[0-9][0-9][0-9]"))
    if len(folders) != count:
        raise AdvlabError(f"expected {count} {kind} models under {MODELS / kind} but found {len(folders)}; "
                          f"rerun `dvc repro mia_train@{kind}`")
    return folders


def save_group(group: str, folders: list[Path], keep: np.ndarray, queries, ds, plan, data: MiaData, device) -> None:
    """Query the models in ``folders`` on the pool and the population; save ``SIGNALS/<group>/{pool,population}``."""
    x_pool, y_pool = to_tensors(ds, data.pool)
    x_pop, y_pop = to_tensors(ds, data.population)
    pool_logits, pop_logits, cost = [], [], []
    for folder in folders:
        model, side = load_model(folder, device)
        if side.get("plan_hash") != plan.hash:
            raise AdvlabError(f"{folder} was trained on split plan {side.get('plan_hash')} but the current plan is "
                              f"{plan.hash}; rerun its training stage (`dvc repro {train_stage(folder)}`)")
        # large batches: a small CNN's forward pass on few images is mostly per-call overhead on a CPU
        pool_logits.append(compute_logits(model, x_pool, queries, batch_size=1024, device=device))
        pop_logits.append(compute_logits(model, x_pop, queries, batch_size=1024, device=device))
        cost.append({"model": str(folder), **{k: side["metrics"].get(k) for k in
                     ("train_seconds", "epochs_run", "test_accuracy", "train_accuracy", "examples", "recipe")},
                     **({"privacy": side["metrics"]["privacy"]} if "privacy" in side["metrics"] else {}),
                     **({"early_stopping": side["metrics"]["early_stopping"]}
                        if "early_stopping" in side["metrics"] else {})})
    meta = {"group": group, "pool_hash": data.pool_hash, "models": cost, "queries": list(queries)}
    Signals(np.stack(pool_logits), y_pool.numpy(), keep, plan.hash,
            {**meta, "pool_index": data.pool.tolist()}).save(SIGNALS / group / "pool.npz")
    Signals(np.stack(pop_logits), y_pop.numpy(), np.zeros((len(folders), len(data.population)), bool), plan.hash,
            meta).save(SIGNALS / group / "population.npz")
    print(f"signals {group}: {len(folders)} model(s) x {len(data.pool)} pool + {len(data.population)} population "
          f"examples x {len(queries)} queries")


def save_signals(m: MembershipParams, queries: list[str], ds, plan, data: MiaData, device) -> None:
    """Every group's signals under ``queries`` (:func:`advlab.study.membership.queries`): shadows,
    references and one group per target variant."""
    shutil.rmtree(SIGNALS, ignore_errors=True)
    save_group("shadows", model_folders("shadows", m, data), data.shadow_keep, queries, ds, plan, data, device)
    save_group("references", model_folders("references", m, data), np.zeros((m.references, len(data.pool)), bool),
               queries, ds, plan, data, device)
    for variant, folder in zip(m.targets, model_folders("targets", m, data)):
        save_group(f"target_{variant}", [folder], data.members[None], queries, ds, plan, data, device)
