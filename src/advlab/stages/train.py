"""Stage ``train@<model>``: train one zoo model on the target members."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import torch

from advlab.data.prepared import channel_stats, load_prepared, to_tensors
from advlab.io import write_csv, write_json
from advlab.models.checkpoint import save_model
from advlab.models.zoo import build_model
from advlab.stages.common import load_params, require, resolve_device, stage
from advlab.training.loop import clear_resume, fingerprint, fit, quick_eval
from advlab.training.objectives import make_objective

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
    x, y = to_tensors(ds, members)
    mean, std = channel_stats(x)
    spec = {"arch": mp.arch, "input_shape": list(ds.input_shape), "num_classes": ds.num_classes,
            "options": {**mp.options, "mean": mean, "std": std}}
    seed = p.seed if mp.seed is None else mp.seed
    torch.manual_seed(seed)
    model = build_model(mp.arch, ds.input_shape, ds.num_classes, **dict(spec["options"]))
    options = dict(mp.train.objective_options)
    if mp.train.label_smoothing:
        options["label_smoothing"] = mp.train.label_smoothing
    objective = make_objective(mp.train.objective, **options)
    val = to_tensors(ds, plan["validation"])
    resume_dir = CHECKPOINTS / "train" / name
    key = fingerprint(spec, mp.train.model_dump(), seed, plan.hash)
    t0 = time.perf_counter()
    result = fit(model, x, y, mp.train, objective, seed=seed, device=device, val=val,
                 resume_dir=resume_dir, resume_key=key, desc=f"train {name}")
    test = quick_eval(model, *to_tensors(ds, plan["test"]), device=device)
    train = quick_eval(model, x, y, device=device)
    metrics = {
        "model": name, "arch": mp.arch, "epochs": mp.train.epochs, "members": len(members),
        "parameters": sum(q.numel() for q in model.parameters()),
        "train_accuracy": train["accuracy"], "train_nll": train["nll"],
        "test_accuracy": test["accuracy"], "test_nll": test["nll"], "test_ece": test["ece"],
        "train_seconds": result.seconds, "samples_per_s": result.samples_per_s,
        "stage_seconds": time.perf_counter() - t0, "device": str(device), "plan_hash": plan.hash,
    }
    save_model(MODELS / name, model, spec, {"params": mp.model_dump(), "metrics": metrics, "plan_hash": plan.hash})
    write_csv(RESULTS / f"{name}_history.csv", pd.DataFrame(result.history))
    write_json(RESULTS / f"{name}.json", metrics)
    clear_resume(resume_dir)
    print(f"{name}: test accuracy {test['accuracy']:.4f}, ECE {test['ece']:.4f}, "
          f"{result.samples_per_s:.0f} samples/s over {result.seconds:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
