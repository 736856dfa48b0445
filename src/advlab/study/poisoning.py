"""The evasion family's poisoning sweep (SPEC §2): one model per rate of
``evasion.poisoning.<kind>_rates``, trained with ``models.<evasion.poisoning.model>``'s
recipe (plus the section's train overrides) through :func:`advlab.training.loop.fit`;
rate 0 is the clean reference. The rates are independent trainings, so they go through
the executor of ``compute:`` (:mod:`advlab.compute`) like the membership models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from advlab.attacks.poisoning import POISONINGS, stamp
from advlab.compute import executor
from advlab.data.prepared import channel_stats, load_prepared, to_tensors
from advlab.errors import AdvlabError
from advlab.models.zoo import build_model
from advlab.params import merge_train
from advlab.study.evasion import accuracy
from advlab.training.loop import fit, predict_proba
from advlab.training.objectives import make_objective


@dataclass
class Sweep:
    """What every rate's training needs, sent once to the executor's workers."""

    kind: str
    pp: object  # params.evasion.poisoning
    mp: object  # params.models[pp.model]
    cfg: object  # its train params with the section's overrides
    seed: int
    num_classes: int
    input_shape: tuple
    x: torch.Tensor
    y: torch.Tensor
    xt: torch.Tensor
    yt: torch.Tensor
    device: torch.device


def poison_one(s: Sweep, rate: float) -> dict:
    """Poison a fraction ``rate`` of the members, train, measure; runs on an executor worker."""
    pp, cfg, device = s.pp, s.cfg, s.device
    gen = torch.Generator().manual_seed(s.seed * 7919 + 17)
    xp, yp, idx = POISONINGS.get(s.kind)(s.x, s.y, rate, gen, num_classes=s.num_classes, target_class=pp.target_class,
                                        patch_size=pp.patch_size, patch_value=pp.patch_value)
    mean, std = channel_stats(s.x)
    torch.manual_seed(s.seed)
    model = build_model(s.mp.arch, s.input_shape, s.num_classes, **{**s.mp.options, "mean": mean, "std": std})
    t1 = time.perf_counter()
    res = fit(model, xp, yp, cfg, make_objective(cfg.objective, **cfg.objective_options), seed=s.seed,
              device=device, desc=f"{s.kind} {rate}")
    row = {"rate": rate, "poisoned": len(idx), "members": len(s.y), "clean_accuracy": accuracy(model, s.xt, s.yt, device),
           "train_seconds": res.seconds, "samples_per_s": res.samples_per_s}
    if POISONINGS.meta(s.kind)["triggered"]:
        keep = s.yt != pp.target_class
        trig = predict_proba(model, stamp(s.xt[keep], pp.patch_size, pp.patch_value), device=device).argmax(1)
        row["attack_success_rate"] = float((trig == pp.target_class).float().mean())
    row["seconds"] = time.perf_counter() - t1
    return row


def poison_sweep(p, kind: str, device, log=print) -> tuple[dict, pd.DataFrame]:
    """``evasion_poison@<kind>``: ``(summary, rows)``, clean test accuracy per rate (and the
    attack success rate for a triggered poisoning: triggered test images not of the target
    class classified as the target)."""
    pp = p.evasion.poisoning
    triggered = POISONINGS.meta(kind)["triggered"]
    mp = p.models[pp.model]
    cfg = merge_train(mp.train, pp.train, where="evasion.poisoning.train")
    ds, plan = load_prepared()
    if pp.target_class >= ds.num_classes:
        raise AdvlabError(f"evasion.poisoning.target_class {pp.target_class} is not a class of {ds.name} "
                          f"({ds.num_classes} classes)")
    members = plan["members"][: cfg.max_members]
    sweep = Sweep(kind, pp, mp, cfg, p.seed if mp.seed is None else mp.seed, ds.num_classes, ds.input_shape,
                  *to_tensors(ds, members), *to_tensors(ds, plan["test"]), device)
    rates = list(getattr(pp, f"{kind}_rates"))
    rows = [None] * len(rates)
    with executor(p.compute, device=device) as ex:
        for i, row in ex.map(poison_one, rates, shared=sweep):
            rows[i] = row
            log(f"{kind} rate {row['rate']}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "rate"))
    frame = pd.DataFrame(rows)
    frame["clean_accuracy_drop"] = frame.clean_accuracy.iloc[0] - frame.clean_accuracy if rates[0] == 0 else np.nan
    summary = {"kind": kind, "model": pp.model, "epochs": cfg.epochs, "members": len(sweep.y),
               "target_class": pp.target_class if triggered else None, "rows": frame.to_dict("records")}
    return summary, frame
