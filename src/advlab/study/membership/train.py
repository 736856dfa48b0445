"""Training the membership family's models (shadows, references, target variants).

Every model of a kind is an independent job (:class:`~advlab.training.jobs.Job`): this
process decides which saved models are reused, hands the others to the executor of
``compute:`` (:mod:`advlab.compute`: one after another here, or Ray tasks), and saves each
model as its result arrives, so a killed run retrains none of the finished ones. Epoch
checkpoints of the models in flight stay under ``checkpoints/membership/<kind>/`` until
the whole kind is done, so a rerun resumes inside them.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from advlab.compute import executor
from advlab.data.prepared import to_tensors
from advlab.errors import AdvlabError
from advlab.params import Params, merge_train
from advlab.training.jobs import Job, Recipe, Trained, default_sidecar, reused
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


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise AdvlabError(f"mia_train: unknown kind {kind!r}; use {', '.join(KINDS)}")
    return kind


def names(kind: str, p: Params, data: MiaData) -> list[str]:
    """The models of ``kind``: ``000``, ``001``, … (shadows, references) or the target variants."""
    m = settings(p)
    return {"shadows": [f"{k:03d}" for k in range(len(data.shadow_keep))],
            "references": [f"{r:03d}" for r in range(m.references)],
            "targets": list(m.targets)}[_kind(kind)]


def job(kind: str, name: str, p: Params, ds, plan, data: MiaData) -> tuple[str, Job]:
    """``(role, job)`` of model ``name`` of ``kind``."""
    if _kind(kind) == "shadows":
        k = int(name)
        return "shadow", Job(ds, data.pool[data.shadow_keep[k]], recipe(p), seed=p.seed + 1 + k, plan_hash=plan.hash)
    if kind == "references":
        r = int(name)
        idx = reference_sets(plan, settings(p), len(data.pool))[r]
        return "reference", Job(ds, idx, recipe(p), seed=p.seed + 1001 + r, plan_hash=plan.hash)
    tp = settings(p).targets[name]
    return tp.role, Job(ds, data.pool[data.members], recipe(p, name), seed=p.seed, plan_hash=plan.hash)


def _desc(kind: str, role: str, name: str) -> str:
    return f"mia target {name}" if kind == "targets" else f"{role} {name}"


@dataclass
class Context:
    """What every job of one kind needs, sent once to the executor's workers."""

    kind: str
    p: Params
    ds: object
    plan: object
    data: MiaData
    device: torch.device
    checkpoints: Path  # absolute: a worker may run elsewhere


def train_one(ctx: Context, name: str) -> tuple[dict, Trained]:
    """Train model ``name`` of ``ctx.kind`` (resumable) and measure it; runs on an executor worker."""
    role, j = job(ctx.kind, name, ctx.p, ctx.ds, ctx.plan, ctx.data)
    val = to_tensors(ctx.ds, ctx.plan["validation"]) if j.recipe.early_stopping is not None else None
    t = j.run(device=ctx.device, resume_dir=ctx.checkpoints / name, desc=_desc(ctx.kind, role, name), val=val)
    rc = j.recipe
    out = {"role": role, "recipe": rc.to_dict(), "arch": rc.arch, "examples": int(len(j.index)),
           "epochs": rc.train.epochs, "epochs_run": len(t.result.history), "train_seconds": t.result.seconds,
           "samples_per_s": t.result.samples_per_s, "stage_seconds": t.seconds,
           "train_accuracy": t.train_eval["accuracy"], "train_nll": t.train_eval["nll"], **t.extra}
    test = quick_eval(t.model, *to_tensors(ctx.ds, ctx.plan["attack_eval"]), device=ctx.device)
    out.update(test_accuracy=test["accuracy"], test_nll=test["nll"], test_examples=int(len(ctx.plan["attack_eval"])))
    t.model.cpu()
    return out, t


def _report(desc: str, r: dict) -> None:
    eps = f", ε = {r['privacy']['epsilon']:.2f}" if "privacy" in r else ""
    print(f"{desc}: {r['examples']} examples, train acc {r['train_accuracy']:.3f}, test acc "
          f"{r['test_accuracy']:.3f}{eps}, {r['train_seconds']:.1f} s{' (reused)' if r.get('reused') else ''}")


def train_kind(kind: str, p: Params, ds, plan, data: MiaData, device) -> dict:
    """Train (or reuse) every model of ``kind`` into ``models/membership/<kind>``; returns the summary."""
    t0, out, todo = time.perf_counter(), {}, {}
    # the folders persist between runs (dvc.yaml): a model whose sidecar matches its job's key (recipe,
    # examples, seed, split plan) is reused, so a params change that does not touch a model keeps it
    for name in names(kind, p, data):
        role, j = job(kind, name, p, ds, plan, data)
        if (r := reused(j, MODELS / kind / name)) is not None:
            out[name] = r
            _report(_desc(kind, role, name), r)
        else:
            todo[name] = role, j
    if todo:
        ctx, order = Context(kind, p, ds, plan, data, device, (CHECKPOINTS / kind).resolve()), list(todo)
        with executor(p.compute, device=device) as ex:
            for i, (m, trained) in ex.map(train_one, order, shared=ctx):
                name = order[i]
                role, j = todo[name]
                j.save(MODELS / kind / name, trained, default_sidecar(j, m))
                out[name] = m
                _report(_desc(kind, role, name), m)
    out = {name: out[name] for name in names(kind, p, data)}  # params order, whatever order jobs finished in
    for old in (MODELS / kind).glob("*") if (MODELS / kind).is_dir() else []:
        if old.name not in out:  # a model no longer in params (fewer shadows, a removed variant)
            shutil.rmtree(old)
    clear_resume(CHECKPOINTS / kind)
    summary = {"models": len(out), "train_seconds": sum(v["train_seconds"] for v in out.values()),
               "stage_seconds": time.perf_counter() - t0}
    if kind != "targets":
        summary["mean_test_accuracy"] = sum(v["test_accuracy"] for v in out.values()) / len(out)
    return {**summary, "per_model": out, "plan_hash": plan.hash}
