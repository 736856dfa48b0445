"""Stages ``mia_shadows``, ``mia_references`` and ``mia_targets``: train the
membership family's models (SPEC §5) with the shared loop.

* ``shadows``: the K shadow models (K = the split plan's ``shadow_keep`` rows), one
  after another in one stage; shadow ``k`` trains on the MIA pool examples with
  ``shadow_keep[k]`` true. Each model's epoch checkpoints stay under
  ``checkpoints/membership/shadows/NNN`` until all K are saved, so a killed run
  resumes inside the model it was training and retrains none of the finished ones.
* ``references``: ``membership.references`` models on disjoint auxiliary draws.
* ``targets``: every variant of ``membership.targets`` (baseline, defenses,
  overfitting levels) on the MIA pool's members. The stage's output persists, and a
  variant whose sidecar records exactly its current settings is reused, so editing one
  variant retrains only that one (one stage for all variants keeps the tiny profile's
  process start-up cost low; a per-variant ``foreach`` would pay it eight times).

All use ``models.<membership.target_model>`` overridden by ``membership.recipe`` (and
the variant's own overrides); costs (training seconds) go into each model's sidecar.
"""

from __future__ import annotations

import shutil
import sys
import time

from advlab.data.prepared import load_prepared
from advlab.errors import AdvlabError
from advlab.io import write_json
from advlab.stages.common import load_params, resolve_device, stage
from advlab.stages.mia_common import CHECKPOINTS, MODELS, RESULTS, mia_data, recipe, reference_sets, settings, train_model
from advlab.training.loop import clear_resume


def _group(kind: str, jobs, p, ds, plan, rc, device) -> dict:
    t0 = time.perf_counter()
    out = {}
    for name, idx, seed in jobs:
        out[name] = train_model(ds, plan, idx, rc, seed=seed, device=device, folder=MODELS / kind / name,
                                resume_dir=CHECKPOINTS / kind / name, desc=f"{kind[:-1]} {name}", role=kind[:-1],
                                eval_idx=plan["attack_eval"], keep_resume=True)
        print(f"{kind[:-1]} {name}: {out[name]['examples']} examples, train acc {out[name]['train_accuracy']:.3f}, "
              f"test acc {out[name]['test_accuracy']:.3f}, {out[name]['train_seconds']:.1f} s")
    clear_resume(CHECKPOINTS / kind)
    total = sum(v["train_seconds"] for v in out.values())
    write_json(RESULTS / "train" / f"{kind}.json", {
        "models": len(out), "train_seconds": total, "stage_seconds": time.perf_counter() - t0,
        "mean_test_accuracy": sum(v["test_accuracy"] for v in out.values()) / len(out), "per_model": out,
        "plan_hash": plan.hash})
    return out


def _targets(p, m, ds, plan, data, device) -> None:
    """Every target variant in turn; the folder persists between runs (``persist: true``), so a
    variant whose saved sidecar records exactly its current settings is reused, not retrained."""
    root = MODELS / "targets"
    for old in root.glob("*") if root.is_dir() else []:
        if old.name not in m.targets:
            shutil.rmtree(old)
    t0 = time.perf_counter()
    out = {}
    for variant, tp in m.targets.items():
        rc = recipe(p, variant)
        metrics = train_model(ds, plan, data.pool[data.members], rc, seed=p.seed, device=device,
                              folder=root / variant, resume_dir=CHECKPOINTS / "targets" / variant,
                              desc=f"mia target {variant}", role=tp.role, eval_idx=plan["attack_eval"])
        out[variant] = metrics
        eps = f", ε = {metrics['privacy']['epsilon']:.2f}" if "privacy" in metrics else ""
        print(f"mia target {variant}: train acc {metrics['train_accuracy']:.3f}, test acc "
              f"{metrics['test_accuracy']:.3f}{eps}, {metrics['train_seconds']:.1f} s"
              f"{' (reused)' if metrics.get('reused') else ''}")
    write_json(RESULTS / "train" / "targets.json", {
        "models": len(out), "train_seconds": sum(v["train_seconds"] for v in out.values()),
        "stage_seconds": time.perf_counter() - t0, "per_model": out, "plan_hash": plan.hash})


@stage
def main(kind: str) -> None:
    p = load_params()
    m = settings(p)
    device = resolve_device(p.device)
    ds, plan = load_prepared()
    data = mia_data(plan, m)
    if kind == "shadows":
        jobs = [(f"{k:03d}", data.pool[data.shadow_keep[k]], p.seed + 1 + k) for k in range(len(data.shadow_keep))]
        _group("shadows", jobs, p, ds, plan, recipe(p), device)
    elif kind == "references":
        sets = reference_sets(plan, m, len(data.pool))
        jobs = [(f"{r:03d}", idx, p.seed + 1001 + r) for r, idx in enumerate(sets)]
        _group("references", jobs, p, ds, plan, recipe(p), device)
    elif kind == "targets":
        _targets(p, m, ds, plan, data, device)
    else:
        raise AdvlabError(f"mia_train: unknown kind {kind!r}; use shadows, references or targets")


if __name__ == "__main__":
    sys.exit(main())
