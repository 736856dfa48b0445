"""Stage ``evasion_poison@<kind>``: data poisoning sweeps (SPEC §2), each rate training one
model with ``models.<evasion.poisoning.model>``'s recipe (plus ``evasion.poisoning.train``
overrides) through the shared loop :func:`advlab.training.loop.fit`.

* ``label_flip``: a fraction ρ of the training labels is replaced by a uniformly drawn
  *other* class; reported: clean test accuracy.
* ``backdoor`` (BadNets, Gu et al. 2017): a ``patch_size × patch_size`` patch of value
  ``patch_value`` is stamped in the bottom-right corner of a fraction ρ of the training
  images, which are relabelled to ``target_class``; reported: clean test accuracy and the
  attack success rate (ASR) = the fraction of triggered test images *not of the target
  class* classified as the target.

The rate 0 run is the clean reference (same recipe, same seed). Writes
``results/evasion/poisoning/<kind>.json`` and ``<kind>.csv``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import torch

from advlab.data.prepared import channel_stats, load_prepared, to_tensors
from advlab.errors import AdvlabError
from advlab.io import write_csv, write_json
from advlab.models.zoo import build_model
from advlab.params import TrainParams
from advlab.stages.common import load_params, resolve_device, stage
from advlab.stages.evasion_common import RESULTS, section
from advlab.training.loop import fit, predict_proba
from advlab.training.objectives import make_objective

KINDS = ("label_flip", "backdoor")


def flip_labels(y: torch.Tensor, rate: float, num_classes: int, generator: torch.Generator) -> tuple[torch.Tensor, np.ndarray]:
    """Replace the labels of ``round(rate·n)`` random examples by a different random class."""
    n = len(y)
    idx = torch.randperm(n, generator=generator)[: round(rate * n)]
    shift = torch.randint(1, num_classes, (len(idx),), generator=generator)
    out = y.clone()
    out[idx] = (y[idx] + shift) % num_classes
    return out, idx.numpy()


def stamp(x: torch.Tensor, size: int, value: float) -> torch.Tensor:
    """The BadNets trigger: a solid square in the bottom-right corner (all channels)."""
    out = x.clone()
    out[..., -size:, -size:] = value
    return out


def backdoor(x: torch.Tensor, y: torch.Tensor, rate: float, target: int, size: int, value: float,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Stamp the trigger on ``round(rate·n)`` random training images and relabel them ``target``."""
    idx = torch.randperm(len(y), generator=generator)[: round(rate * len(y))]
    xp, yp = x.clone(), y.clone()
    xp[idx] = stamp(x[idx], size, value)
    yp[idx] = target
    return xp, yp, idx.numpy()


@stage
def main(kind: str) -> None:
    p = load_params()
    ev = section(p)
    if kind not in KINDS:
        raise AdvlabError(f"evasion_poison: kind {kind!r} does not exist; allowed: {', '.join(KINDS)}")
    pp = ev.poisoning
    mp = p.models[pp.model]
    cfg = TrainParams.model_validate({**mp.train.model_dump(), **pp.train})
    device = resolve_device(p.device)
    ds, plan = load_prepared()
    if pp.target_class >= ds.num_classes:
        raise AdvlabError(f"evasion.poisoning.target_class {pp.target_class} is not a class of {ds.name} "
                          f"({ds.num_classes} classes)")
    members = plan["members"][: cfg.max_members]
    x, y = to_tensors(ds, members)
    xt, yt = to_tensors(ds, plan["test"])
    mean, std = channel_stats(x)
    seed = p.seed if mp.seed is None else mp.seed
    rates = pp.label_flip_rates if kind == "label_flip" else pp.backdoor_rates
    rows, t0 = [], time.perf_counter()
    for rate in rates:
        gen = torch.Generator().manual_seed(seed * 7919 + 17)
        if kind == "label_flip":
            xp, (yp, idx) = x, flip_labels(y, rate, ds.num_classes, gen)
        else:
            xp, yp, idx = backdoor(x, y, rate, pp.target_class, pp.patch_size, pp.patch_value, gen)
        torch.manual_seed(seed)
        model = build_model(mp.arch, ds.input_shape, ds.num_classes, **{**mp.options, "mean": mean, "std": std})
        t1 = time.perf_counter()
        res = fit(model, xp, yp, cfg, make_objective(cfg.objective, **cfg.objective_options), seed=seed,
                  device=device, desc=f"{kind} {rate}")
        row = {"rate": rate, "poisoned": len(idx), "members": len(y),
               "clean_accuracy": float((predict_proba(model, xt, device=device).argmax(1) == yt).float().mean()),
               "train_seconds": res.seconds, "samples_per_s": res.samples_per_s}
        if kind == "backdoor":
            keep = yt != pp.target_class
            trig = predict_proba(model, stamp(xt[keep], pp.patch_size, pp.patch_value), device=device).argmax(1)
            row["attack_success_rate"] = float((trig == pp.target_class).float().mean())
        row["seconds"] = time.perf_counter() - t1
        rows.append(row)
        print(f"{kind} rate {rate}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "rate"))
    frame = pd.DataFrame(rows)
    frame["clean_accuracy_drop"] = frame.clean_accuracy.iloc[0] - frame.clean_accuracy if rates[0] == 0 else np.nan
    write_csv(RESULTS / "poisoning" / f"{kind}.csv", frame)
    write_json(RESULTS / "poisoning" / f"{kind}.json",
               {"kind": kind, "model": pp.model, "epochs": cfg.epochs, "members": len(y),
                "target_class": pp.target_class if kind == "backdoor" else None,
                "rows": frame.to_dict("records"), "stage_seconds": time.perf_counter() - t0})


if __name__ == "__main__":
    sys.exit(main())
