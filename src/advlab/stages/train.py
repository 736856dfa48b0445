"""Stage ``train@<model>``: train one zoo model on the target members
(:func:`advlab.training.jobs.train_job`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from advlab.data.prepared import load_prepared, to_tensors
from advlab.io import write_csv, write_json
from advlab.stages.common import load_params, require, resolve_device, stage
from advlab.training.jobs import Job, Recipe, train_job
from advlab.training.loop import quick_eval

MODELS, RESULTS, CHECKPOINTS = Path("models"), Path("results/models/train"), Path("checkpoints")


@stage
def main(name: str) -> None:
    p = load_params()
    require(name, p.models, "models")
    mp = p.models[name]
    device = resolve_device(p.device)
    ds, plan = load_prepared()
    members = plan["members"][: mp.train.max_members]
    if mp.train.imbalance_ratio is not None:  # class-imbalance study (SPEC §3): a long-tailed subsample
        from advlab.data.longtail import long_tailed

        members = long_tailed(members, ds.labels[members], mp.train.imbalance_ratio, ds.num_classes, seed=p.seed)
    job = Job(ds, members, Recipe(mp.arch, dict(mp.options), mp.train), seed=p.seed if mp.seed is None else mp.seed,
              plan_hash=plan.hash)

    def metrics(t) -> dict:
        test = quick_eval(t.model, *to_tensors(ds, plan["test"]), device=device)
        return {"model": name, "arch": mp.arch, "epochs": mp.train.epochs, "members": len(members),
                "parameters": sum(q.numel() for q in t.model.parameters()),
                "train_accuracy": t.train_eval["accuracy"], "train_nll": t.train_eval["nll"],
                "test_accuracy": test["accuracy"], "test_nll": test["nll"], "test_ece": test["ece"],
                "train_seconds": t.result.seconds, "samples_per_s": t.result.samples_per_s,
                "stage_seconds": t.seconds, "device": str(device), "plan_hash": plan.hash}

    out, trained = train_job(job, MODELS / name, device=device, resume_dir=CHECKPOINTS / "train" / name,
                             desc=f"train {name}", val=to_tensors(ds, plan["validation"]), metrics=metrics,
                             sidecar=lambda m: {"params": mp.model_dump(), "metrics": m, "plan_hash": plan.hash},
                             reuse=False)
    write_csv(RESULTS / f"{name}_history.csv", pd.DataFrame(trained.result.history))
    write_json(RESULTS / f"{name}.json", out)
    print(f"{name}: test accuracy {out['test_accuracy']:.4f}, ECE {out['test_ece']:.4f}, "
          f"{out['samples_per_s']:.0f} samples/s over {out['train_seconds']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
