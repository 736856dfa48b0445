"""Every registered membership attack on one target variant, from saved signals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from advlab.attacks.membership import MiaInputs, Signals, run_attacks
from advlab.errors import AdvlabError
from advlab.metrics.privacy import attack_record, per_class_tpr_at_fpr, roc
from advlab.params import MembershipParams

from . import SIGNALS, MiaData


def load_signals(group: str, plan_hash: str, pool_hash: str) -> tuple[Signals, Signals]:
    """The pool and population signal sets of ``group``, checked against the current plan and pool."""
    out = []
    for part in ("pool", "population"):
        path = SIGNALS / group / f"{part}.npz"
        if not path.is_file():
            raise AdvlabError(f"{path}: signal file not found; run `dvc repro mia_signals`")
        s = Signals.load(path, hint="rerun `dvc repro mia_signals`")
        if s.plan_hash != plan_hash:
            raise AdvlabError(f"{path}: signals come from split plan {s.plan_hash} but the current plan is {plan_hash}; "
                              "recompute them (`dvc repro mia_signals`) - signals from different plans are never combined")
        if s.meta.get("pool_hash") != pool_hash:
            raise AdvlabError(f"{path}: signals were computed on another MIA pool (membership.pool/seed/population "
                              "changed); recompute them (`dvc repro mia_signals`)")
        out.append(s)
    return out[0], out[1]


@dataclass
class TargetResult:
    info: dict  # the variant's JSON: target, counts, queries and one record per attack
    curves: pd.DataFrame  # ROC of every attack (variant, attack, fpr, tpr)
    scores: dict  # arrays for ``<variant>_scores.npz``


def attack_target(variant: str, m: MembershipParams, plan, data: MiaData, shared) -> TargetResult:
    """Every attack of ``membership.attack`` on target ``variant``; ``shared`` = (shadows, refs, their populations)."""
    target, t_pop = load_signals(f"target_{variant}", plan.hash, data.pool_hash)
    members = target.keep[0]
    shadows, refs, s_pop, r_pop = shared
    results = run_attacks(MiaInputs(target, shadows, refs, t_pop, s_pop, r_pop, m.attack, m.seed))
    fpr_class = max(m.attack.fprs)
    records, curves, scores = {}, [], {}
    for name, (s, cost) in results.items():
        rec = attack_record(name, s, members, cost, m.attack.fprs)
        rec["per_class"] = {str(c): v for c, v in per_class_tpr_at_fpr(s, members, target.labels, fpr_class).items()}
        rec["per_class_fpr"] = fpr_class
        records[name] = rec
        f, t, _ = roc(s, members)
        curves.append(pd.DataFrame({"variant": variant, "attack": name, "fpr": f, "tpr": t}))
        scores[f"score_{name}"] = s.astype(np.float64)
    tmeta = target.meta["models"][0]
    info = {"variant": variant, "role": m.targets[variant].role, "plan_hash": plan.hash,
            "target": {k: v for k, v in tmeta.items() if k != "model"},
            "shadow_models": shadows.n_models, "reference_models": refs.n_models,
            "pool": int(len(data.pool)), "population": int(len(data.population)),
            "queries": target.meta.get("queries"),
            "queries_from": "recipe" if m.queries is None else "params",  # null: the recipe's augmentations
            "attacks": records}
    print(f"{variant}: target test acc {tmeta.get('test_accuracy', float('nan')):.3f}, "
          f"{int(members.sum())} members / {int((~members).sum())} non-members")
    for name, rec in records.items():
        tp = rec["tpr_at_fpr"]
        print(f"  {name:22s} AUC {rec['auc']:.3f}  TPR@0.1% {tp.get('0.001', float('nan')):.3f}  "
              f"TPR@1% {tp.get('0.01', float('nan')):.3f}  cost {rec['cost']['models_trained']} models "
              f"{rec['cost']['training_seconds']:.0f} s")
    npz = {"members": members, "labels": target.labels, "pool_index": np.asarray(target.meta["pool_index"]), **scores}
    return TargetResult(info, pd.concat(curves, ignore_index=True), npz)


def summary_row(info: dict) -> dict:
    """A variant's line of ``metrics.json``: role, test accuracy, ε, AUC / TPR@FPR per attack."""
    return {"role": info["role"], "test_accuracy": info["target"].get("test_accuracy"),
            **({"epsilon": info["target"]["privacy"]["epsilon"]} if "privacy" in info["target"] else {}),
            "attacks": {a: {"auc": r["auc"], **{f"tpr@{k}": v for k, v in r["tpr_at_fpr"].items()},
                            "n_nonmembers": r["n_nonmembers"]} for a, r in info["attacks"].items()}}
