"""What the membership-inference stages share (SPEC §5): the MIA recipe, the data roles
of the family, training one model, and the file layout.

Data roles, all drawn from the saved split plan:

* the MIA pool: a seeded subset of ``plan["target_pool"]`` of size ``membership.pool``
  (all of it when None). The MIA target variants train on its plan members; shadow
  model ``k`` trains on the pool examples with ``plan.shadow_keep[k]`` true. Each keep
  column has exactly K/2 true entries, so every pool example is still a member of
  exactly K/2 shadow models;
* reference model ``r`` trains on a seeded draw of ``membership.reference_size``
  (default pool/2, the target's training-set size) examples of ``plan["auxiliary"]``;
* RMIA's population points: a seeded subset of ``plan["population"]``.

Layout: models under ``models/membership/{shadows/NNN,references/NNN,targets/NAME}``,
signals under ``results/membership/signals/{shadows,references,target_NAME}/``
(``pool`` and ``population`` signal sets), attack results under
``results/membership/attack/``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from advlab.data.prepared import channel_stats, to_tensors
from advlab.errors import AdvlabError
from advlab.io import read_json, sha256_of
from advlab.models.checkpoint import save_model
from advlab.models.zoo import build_model
from advlab.params import DPParams, EarlyStoppingParams, MembershipParams, Params, TrainParams
from advlab.stages.common import family, require
from advlab.training.early_stopping import EarlyStopping, StopTraining
from advlab.training.loop import FitResult, clear_resume, fingerprint, fit, quick_eval
from advlab.training.objectives import make_objective

MODELS = Path("models/membership")
RESULTS = Path("results/membership")
SIGNALS = RESULTS / "signals"
CHECKPOINTS = Path("checkpoints/membership")


def settings(p: Params) -> MembershipParams:
    return family(p, "membership")


@dataclass
class Recipe:
    arch: str
    options: dict
    train: TrainParams
    dp: DPParams | None = None
    early_stopping: EarlyStoppingParams | None = None


def recipe(p: Params, variant: str | None = None) -> Recipe:
    """``models.<target_model>`` overridden by ``membership.recipe``, then by the target variant."""
    m = settings(p)
    base = p.models[m.target_model]
    over = None
    if variant is not None:
        require(variant, m.targets, "membership.targets")
        over = m.targets[variant]
    options = {**base.options, **m.recipe.options, **(over.options if over else {})}
    train = TrainParams.model_validate({**base.train.model_dump(), **m.recipe.train, **(over.train if over else {})})
    return Recipe(base.arch, options, train, over.dp if over else None, over.early_stopping if over else None)


@dataclass
class MiaData:
    pool: np.ndarray  # dataset indices of the MIA pool
    members: np.ndarray  # (P,) bool: member of the MIA targets
    shadow_keep: np.ndarray  # (K, P) bool
    population: np.ndarray  # dataset indices of RMIA's population points
    pool_hash: str


def shadow_count(plan) -> int:
    k = int(plan.shadow_keep.shape[0])
    if k < 1:
        raise AdvlabError(f"membership: the split plan has K = {k} shadow models; set split.shadow_models to an "
                          "even number >= 2 (>= 4 for LiRA's per-example variance) and rerun `dvc repro prepare`")
    if k % 2:
        raise AdvlabError(f"membership: the split plan has an odd K = {k} shadow models; the keep matrix needs K even "
                          "so every example is in exactly K/2 of them")
    return k


def mia_data(plan, m: MembershipParams) -> MiaData:
    k = shadow_count(plan)
    tp = plan["target_pool"]
    size = len(tp) if m.pool is None else m.pool
    if size > len(tp):
        raise AdvlabError(f"membership.pool = {size} exceeds split.target_pool = {len(tp)}")
    rng = np.random.default_rng(m.seed)
    pos = np.arange(len(tp)) if size == len(tp) else np.sort(rng.choice(len(tp), size, replace=False))
    pool = tp[pos]
    members = np.isin(pool, plan["members"])
    keep = plan.shadow_keep[:, pos].astype(bool)
    assert keep.shape == (k, size) and (keep.sum(0) == k // 2).all()
    pop = plan["population"]
    n_pop = len(pop) if m.population is None else m.population
    if n_pop > len(pop):
        raise AdvlabError(f"membership.population = {n_pop} exceeds split.population = {len(pop)}")
    population = pop if n_pop == len(pop) else np.sort(rng.choice(pop, n_pop, replace=False))
    return MiaData(pool, members, keep, population, sha256_of(pool, members, keep, population))


def reference_sets(plan, m: MembershipParams, pool_size: int) -> list[np.ndarray]:
    aux = plan["auxiliary"]
    size = m.reference_size or pool_size // 2
    if size > len(aux):
        raise AdvlabError(f"membership: each reference model trains on {size} auxiliary examples "
                          f"(membership.reference_size, default pool/2) but split.auxiliary = {len(aux)}")
    return [np.sort(np.random.default_rng([m.seed, 1, r]).choice(aux, size, replace=False))
            for r in range(m.references)]


def train_model(ds, plan, idx: np.ndarray, rc: Recipe, *, seed: int, device, folder: Path, resume_dir: Path,
                desc: str, role: str, eval_idx: np.ndarray | None = None, keep_resume: bool = False) -> dict:
    """Train one model of the family on the examples ``idx``, save it, return its metrics.

    Standard training, DP-SGD (:func:`advlab.training.dp.fit_private`) or early stopping
    (validation NLL, ``patience`` epochs, the best epoch's weights kept), all through
    the shared loop. The resume folder is cleared once the model is saved, unless
    ``keep_resume`` (a stage that trains several models clears them all at its end, so a
    rerun after a kill finds the finished ones complete and retrains none of them).
    """
    x, y = to_tensors(ds, idx)
    mean, std = channel_stats(x)
    spec = {"arch": rc.arch, "input_shape": list(ds.input_shape), "num_classes": ds.num_classes,
            "options": {**rc.options, "mean": mean, "std": std}}
    torch.manual_seed(seed)
    model = build_model(rc.arch, ds.input_shape, ds.num_classes, **dict(spec["options"]))
    objective = make_objective(rc.train.objective, label_smoothing=rc.train.label_smoothing)
    dp = rc.dp.model_dump() if rc.dp else None
    es = rc.early_stopping.model_dump() if rc.early_stopping else None
    key = fingerprint(spec, rc.train.model_dump(), dp, es, seed, plan.hash, sha256_of(idx))
    if (folder / "model.json").is_file():  # a persisted output already trained with exactly these settings
        side = read_json(folder / "model.json")
        if side.get("train_key") == key and (folder / "model.safetensors").is_file():
            return {**side["metrics"], "reused": True}
    extra: dict = {}
    t0 = time.perf_counter()
    if rc.dp is not None:
        from advlab.training.dp import fit_private

        result, spent = fit_private(model, x, y, rc.train, objective, epsilon=rc.dp.epsilon, delta=rc.dp.delta,
                                    max_grad_norm=rc.dp.max_grad_norm, seed=seed, device=device,
                                    resume_dir=resume_dir, resume_key=key, desc=desc)
        extra["privacy"] = spent.to_dict()
    elif rc.early_stopping is not None:
        stopper = EarlyStopping(model, rc.early_stopping.patience, resume_dir, key)
        try:
            result = fit(model, x, y, rc.train, objective, seed=seed, device=device,
                         val=to_tensors(ds, plan["validation"]), resume_dir=resume_dir, resume_key=key,
                         on_epoch_end=stopper, desc=desc)
        except StopTraining:
            rows = stopper.rows
            result = FitResult(rows, sum(r["seconds"] for r in rows), len(x) * len(rows))
        stopper.restore()
        model.eval()
        extra["early_stopping"] = stopper.summary()
    else:
        result = fit(model, x, y, rc.train, objective, seed=seed, device=device, resume_dir=resume_dir,
                     resume_key=key, desc=desc)
    train_m = quick_eval(model, x, y, device=device)
    params = {"arch": rc.arch, "options": rc.options, "train": rc.train.model_dump(), "dp": dp, "early_stopping": es}
    metrics = {"role": role, "recipe": params, "arch": rc.arch, "examples": int(len(idx)), "epochs": rc.train.epochs,
               "epochs_run": len(result.history), "train_seconds": result.seconds,
               "samples_per_s": result.samples_per_s, "stage_seconds": time.perf_counter() - t0,
               "train_accuracy": train_m["accuracy"], "train_nll": train_m["nll"], **extra}
    if eval_idx is not None:
        test = quick_eval(model, *to_tensors(ds, eval_idx), device=device)
        metrics.update(test_accuracy=test["accuracy"], test_nll=test["nll"], test_examples=int(len(eval_idx)))
    save_model(folder, model, spec, {"params": params, "metrics": metrics, "plan_hash": plan.hash,
                                     "train_index_hash": sha256_of(idx), "train_key": key})
    if not keep_resume:
        clear_resume(resume_dir)
    return metrics
