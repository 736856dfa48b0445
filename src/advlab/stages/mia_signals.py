"""Stage ``mia_signals``: query every saved model of the membership family once and save
its logits (Carlini et al. 2022, ``inference.py``; ML Privacy Meter), so every attack
re-runs in seconds from files.

Per group, ``results/membership/signals/<group>/pool.{npz,json}`` holds the logits
``(M, P, Q, K)`` on the MIA pool under each of ``membership.queries`` with the keep
matrix (shadows: the plan's; references: all False; a target: its members), with
``<group>`` = ``shadows``, ``references`` or ``target_<variant>``, and
``population.{npz,json}`` the same on RMIA's population points (all non-members).
The sidecar meta carries the pool hash and each model's training cost, read from the
model sidecars.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from advlab.attacks.membership import Signals, compute_logits
from advlab.data.prepared import load_prepared, to_tensors
from advlab.errors import AdvlabError
from advlab.models.checkpoint import load_model
from advlab.stages.common import load_params, resolve_device, stage
from advlab.stages.mia_common import MODELS, SIGNALS, mia_data, settings


def save_group(group: str, folders: list[Path], keep: np.ndarray, p, ds, plan, data, device) -> None:
    m = settings(p)
    x_pool, y_pool = to_tensors(ds, data.pool)
    x_pop, y_pop = to_tensors(ds, data.population)
    pool_logits, pop_logits, cost = [], [], []
    for folder in folders:
        model, side = load_model(folder, device)
        if side.get("plan_hash") != plan.hash:
            raise AdvlabError(f"{folder} was trained on split plan {side.get('plan_hash')} but the current plan is "
                              f"{plan.hash}; rerun its training stage (dvc repro)")
        pool_logits.append(compute_logits(model, x_pool, m.queries, device=device))
        pop_logits.append(compute_logits(model, x_pop, m.queries, device=device))
        cost.append({"model": str(folder), **{k: side["metrics"].get(k) for k in
                     ("train_seconds", "epochs_run", "test_accuracy", "train_accuracy", "examples", "recipe")},
                     **({"privacy": side["metrics"]["privacy"]} if "privacy" in side["metrics"] else {}),
                     **({"early_stopping": side["metrics"]["early_stopping"]}
                        if "early_stopping" in side["metrics"] else {})})
    meta = {"group": group, "pool_hash": data.pool_hash, "models": cost, "queries": list(m.queries)}
    Signals(np.stack(pool_logits), y_pool.numpy(), keep, plan.hash,
            {**meta, "pool_index": data.pool.tolist()}).save(SIGNALS / group / "pool.npz")
    Signals(np.stack(pop_logits), y_pop.numpy(), np.zeros((len(folders), len(data.population)), bool), plan.hash,
            meta).save(SIGNALS / group / "population.npz")
    print(f"signals {group}: {len(folders)} model(s) x {len(data.pool)} pool + {len(data.population)} population "
          f"examples x {len(m.queries)} queries")


def _folders(kind: str, count: int) -> list[Path]:
    folders = sorted((MODELS / kind).glob("[0-9][0-9][0-9]"))
    if len(folders) != count:
        raise AdvlabError(f"expected {count} {kind} models under {MODELS / kind} but found {len(folders)}; "
                          f"rerun `dvc repro mia_{kind}`")
    return folders


@stage
def main() -> None:
    p = load_params()
    m = settings(p)
    device = resolve_device(p.device)
    ds, plan = load_prepared()
    data = mia_data(plan, m)
    shutil.rmtree(SIGNALS, ignore_errors=True)
    save_group("shadows", _folders("shadows", len(data.shadow_keep)), data.shadow_keep, p, ds, plan, data, device)
    save_group("references", _folders("references", m.references),
               np.zeros((m.references, len(data.pool)), bool), p, ds, plan, data, device)
    for variant in m.targets:
        save_group(f"target_{variant}", [MODELS / "targets" / variant], data.members[None], p, ds, plan, data, device)


if __name__ == "__main__":
    sys.exit(main())
