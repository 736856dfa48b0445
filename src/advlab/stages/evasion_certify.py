"""Stage ``evasion_certify@<model>``: randomized smoothing CERTIFY (Cohen et al. 2019) of a
noise-trained model on the attack-evaluation subset; certified accuracy against L2 radius.

Writes ``results/evasion/certify/<model>.json`` and ``<model>_curve.csv`` (radius,
certified accuracy).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import torch

from advlab.defenses.smoothing import ABSTAIN, certify
from advlab.errors import AdvlabError
from advlab.io import write_csv, write_json
from advlab.metrics.robustness import certified_accuracy, certified_accuracy_curve
from advlab.stages.common import load_params, resolve_device, stage
from advlab.stages.evasion_common import RESULTS, eval_subset, section, trained
from advlab.training.loop import predict_proba

REPORT_RADII = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5]


@stage
def main(name: str) -> None:
    p = load_params()
    ev = section(p)
    c = ev.certify
    if name not in c.models:
        raise AdvlabError(f"evasion_certify: model {name!r} is not under evasion.certify.models "
                          f"(have {', '.join(c.models) or 'none'})")
    sigma = float(p.models[name].train.objective_options.get("sigma", 0.25))  # the objective's default
    device = resolve_device(p.device)
    t0 = time.perf_counter()
    _, plan, x, y = eval_subset(min(ev.n_eval, c.n_eval))
    model = trained(name, plan, device)
    gen = torch.Generator(device=device).manual_seed(p.seed)
    pred, radius = certify(model, x, sigma, c.n0, c.n, c.alpha, batch_size=c.batch_size, generator=gen)
    grid, acc = certified_accuracy_curve(pred, radius, y, max_radius=c.max_radius, num=81)
    base_acc = float((predict_proba(model, x, device=device).argmax(1) == y).float().mean())
    dt = time.perf_counter() - t0
    metrics = {"model": name, "sigma": sigma, "n_eval": len(x), "n0": c.n0, "n": c.n, "alpha": c.alpha,
               "base_clean_accuracy": base_acc,
               "abstain_rate": float((pred == ABSTAIN).float().mean()),
               "certified_accuracy": {str(r): float(certified_accuracy(pred, radius, y, r)) for r in REPORT_RADII},
               "mean_radius_correct": float(np.mean(radius.numpy()[(pred == y).numpy()])) if (pred == y).any() else 0.0,
               "seconds": dt, "samples_per_s": len(x) / dt}
    write_csv(RESULTS / "certify" / f"{name}_curve.csv",
              pd.DataFrame({"model": name, "sigma": sigma, "radius": grid, "certified_accuracy": acc}))
    write_json(RESULTS / "certify" / f"{name}.json", metrics)
    print(f"{name} (sigma {sigma}): certified accuracy {metrics['certified_accuracy']}, {dt:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
