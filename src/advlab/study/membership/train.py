"""Training the membership family's models (shadows, references, target variants) through
:func:`advlab.training.jobs.train_job`."""

from __future__ import annotations

import shutil
import time
from typing import Iterator

from advlab.data.prepared import to_tensors
from advlab.errors import AdvlabError
from advlab.params import Params, merge_train
from advlab.training.jobs import Job, Recipe, Trained, train_job
from advlab.training.loop import clear_resume, quick_eval

from . import CHECKPOINTS, KINDS, MODELS, MiaData, reference_sets, settings


def recipe(p: Params, variant: str | None = None) -> Recipe:
    """``models.<target_model>`` overridden by ``membership.recipe``, then by the target variant."""
    m = settings(p)
    base = p.models[m.target_model]
    over = None
    if variant is not None:
        if variant not in m.targets:
            raise AdvlabError(f"{variant!r} is not under membership.targets in params.yaml (have {', '.join(m.targets)})")
        over = m.targets[variant]
    options = {**base.options, **m.recipe.options, **(over.options if over else {})}
    train = merge_train(base.train, m.recipe.train, over.train if over else {}, where="membership.recipe.train")
    return Recipe(base.arch, options, train, over.dp if over else None, over.early_stopping if over else None)


def jobs(kind: str, p: Params, ds, plan, data: MiaData) -> Iterator[tuple[str, str, Job]]:
    """``(name, role, job)`` of every model of ``kind``, built one at a time (each holds its training tensors)."""
    m = settings(p)
    if kind == "shadows":
        for k in range(len(data.shadow_keep)):
            yield f"{k:03d}", "shadow", Job(ds, data.pool[data.shadow_keep[k]], recipe(p), seed=p.seed + 1 + k,
                                            plan_hash=plan.hash)
    elif kind == "references":
        for r, idx in enumerate(reference_sets(plan, m, len(data.pool))):
            yield f"{r:03d}", "reference", Job(ds, idx, recipe(p), seed=p.seed + 1001 + r, plan_hash=plan.hash)
    elif kind == "targets":
        for variant, tp in m.targets.items():
            yield variant, tp.role, Job(ds, data.pool[data.members], recipe(p, variant), seed=p.seed,
                                        plan_hash=plan.hash)
    else:
        raise AdvlabError(f"mia_train: unknown kind {kind!r}; use {', '.join(KINDS)}")


def _metrics(job: Job, role: str, ds, eval_idx, device):
    def build(t: Trained) -> dict:
        rc = job.recipe
        out = {"role": role, "recipe": rc.to_dict(), "arch": rc.arch, "examples": int(len(job.index)),
               "epochs": rc.train.epochs, "epochs_run": len(t.result.history), "train_seconds": t.result.seconds,
               "samples_per_s": t.result.samples_per_s, "stage_seconds": t.seconds,
               "train_accuracy": t.train_eval["accuracy"], "train_nll": t.train_eval["nll"], **t.extra}
        test = quick_eval(t.model, *to_tensors(ds, eval_idx), device=device)
        out.update(test_accuracy=test["accuracy"], test_nll=test["nll"], test_examples=int(len(eval_idx)))
        return out

    return build


def train_kind(kind: str, p: Params, ds, plan, data: MiaData, device) -> dict:
    """Train (or reuse) every model of ``kind`` into ``models/membership/<kind>``; returns the summary."""
    if kind not in KINDS:
        raise AdvlabError(f"mia_train: unknown kind {kind!r}; use {', '.join(KINDS)}")
    t0, out = time.perf_counter(), {}
    # the folders persist between runs (dvc.yaml): a model whose sidecar matches its job's key (recipe,
    # examples, seed, split plan) is reused, so a params change that does not touch a model keeps it
    for name, role, job in jobs(kind, p, ds, plan, data):
        target = kind == "targets"
        desc = f"mia target {name}" if target else f"{role} {name}"
        val = to_tensors(ds, plan["validation"]) if job.recipe.early_stopping is not None else None
        out[name], _ = train_job(job, MODELS / kind / name, device=device, resume_dir=CHECKPOINTS / kind / name,
                                 desc=desc, val=val, metrics=_metrics(job, role, ds, plan["attack_eval"], device),
                                 keep_resume=not target)
        r = out[name]
        eps = f", ε = {r['privacy']['epsilon']:.2f}" if "privacy" in r else ""
        print(f"{desc}: {r['examples']} examples, train acc {r['train_accuracy']:.3f}, test acc "
              f"{r['test_accuracy']:.3f}{eps}, {r['train_seconds']:.1f} s{' (reused)' if r.get('reused') else ''}")
    for old in (MODELS / kind).glob("*") if (MODELS / kind).is_dir() else []:
        if old.name not in out:  # a model no longer in params (fewer shadows, a removed variant)
            shutil.rmtree(old)
    if kind != "targets":
        clear_resume(CHECKPOINTS / kind)
    summary = {"models": len(out), "train_seconds": sum(v["train_seconds"] for v in out.values()),
               "stage_seconds": time.perf_counter() - t0}
    if kind != "targets":
        summary["mean_test_accuracy"] = sum(v["test_accuracy"] for v in out.values()) / len(out)
    return {**summary, "per_model": out, "plan_hash": plan.hash}
