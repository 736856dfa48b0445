"""Stage ``evaluate@<model>``: test-set metrics, reliability data and saved outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from advlab.data.prepared import load_prepared, to_tensors
from advlab.io import write_csv, write_json, write_npz
from advlab.metrics import calibration as cal
from advlab.models.checkpoint import load_trained
from advlab.stages.common import load_params, require, resolve_device, stage
from advlab.training.loop import predict_proba

RESULTS = Path("results/models/evaluate")


@stage
def main(name: str) -> None:
    p = load_params()
    require(name, p.models, "models")
    device = resolve_device(p.device)
    ds, plan = load_prepared()
    model, _ = load_trained(name, plan.hash, device)
    x, y = to_tensors(ds, plan["test"])
    probs = predict_proba(model, x, p.evaluate.batch_size, device)
    conf, correct = cal.confidence_and_correct(probs, y)
    rel = cal.reliability(conf, correct, p.evaluate.n_bins)
    metrics = {"model": name, "n": len(y), **cal.summary(probs, y, p.evaluate.n_bins)}
    write_csv(RESULTS / f"{name}_reliability.csv", pd.DataFrame(rel))
    write_npz(RESULTS / f"{name}_outputs.npz", probs=probs.numpy().astype(np.float32), labels=y.numpy(),
              index=plan["test"])
    write_json(RESULTS / f"{name}.json", metrics)
    print(f"{name}: accuracy {metrics['accuracy']:.4f}  NLL {metrics['nll']:.4f}  ECE {metrics['ece']:.4f}")


if __name__ == "__main__":
    sys.exit(main())
