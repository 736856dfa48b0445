"""Stage ``mia_attack``: every membership attack on every target variant, from
saved signals only (SPEC §5), with ROC, AUC, TPR@FPR (and the number of
non-members beside them), per-class TPR and each attack's cost.

Attacks (``membership.attack.attacks``) and what they use:

* ``loss``: the target alone (Yeom et al. 2018), identity query;
* ``ml_leaks``: shadow 0 (Salem et al. 2019, adversary 1), identity query;
* ``watson``: every reference model (Watson et al. 2022), identity query;
* ``lira_online`` / ``lira_offline`` (+ ``_fixed``: one global σ): the K shadows,
  all queries averaged; ``lira_online_1query``: identity query only;
* ``ldc_mia``: exactly shadow 0 and reference 0 (Shi et al. 2024), identity query;
* ``rmia_offline``: once per count in ``membership.attack.rmia_references`` (named
  ``rmia_offline_rN``), the references as OUT models; ``rmia_online``: the K shadows
  as IN/OUT references. RMIA averages its score over the queries.

Cost = models the attacker trains and their training seconds, from the sidecars of
the models (copied into the signals' meta by ``mia_signals``).
"""

from __future__ import annotations

import shutil
import sys
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from advlab.attacks.membership import (Signals, check_same_plan, ldc_mia_attack, lira_attack, loss_attack,
                                       ml_leaks_attack, rmia_attack, watson_attack)
from advlab.data.prepared import load_prepared
from advlab.errors import AdvlabError, check
from advlab.io import write_csv, write_json, write_npz
from advlab.metrics.privacy import AttackCost, attack_record, per_class_tpr_at_fpr, roc
from advlab.stages.common import load_params, stage
from advlab.stages.mia_common import RESULTS, SIGNALS, mia_data, settings


def load_signals(group: str, plan_hash: str, pool_hash: str) -> tuple[Signals, Signals]:
    """The pool and population signal sets of ``group``, checked against the current plan and pool."""
    out = []
    for part in ("pool", "population"):
        path = SIGNALS / group / f"{part}.npz"
        if not path.is_file():
            raise AdvlabError(f"{path}: signal file not found; run `dvc repro mia_signals`")
        s = Signals.load(path)
        if s.plan_hash != plan_hash:
            raise AdvlabError(f"{path}: signals come from split plan {s.plan_hash} but the current plan is {plan_hash}; "
                              "recompute them (dvc repro) - signals from different plans are never combined")
        if s.meta.get("pool_hash") != pool_hash:
            raise AdvlabError(f"{path}: signals were computed on another MIA pool (membership.pool/seed/population "
                              "changed); recompute them (dvc repro)")
        out.append(s)
    return out[0], out[1]


def _cost(s: Signals, idx) -> AttackCost:
    idx = list(idx)
    if "models" not in s.meta:  # signals saved without the models' sidecars: the count is still known
        return AttackCost(len(idx), 0.0, {"training_seconds": "unknown"})
    models = [s.meta["models"][i] for i in idx]
    return AttackCost(len(models), sum(float(mm["train_seconds"] or 0.0) for mm in models),
                      {"models": [mm["model"] for mm in models]})


def run_attacks(target: Signals, shadows: Signals, refs: Signals, t_pop: Signals, s_pop: Signals,
                r_pop: Signals, a, seed: int = 0) -> dict[str, tuple[np.ndarray, AttackCost]]:
    """``{attack name: (scores over the pool, cost)}`` for every attack in ``a.attacks``."""
    check_same_plan(target, shadows, refs, t_pop, s_pop, r_pop)
    y, zt = target.labels, target.logits[0]
    k, r = shadows.n_models, refs.n_models
    out: dict[str, tuple[np.ndarray, AttackCost]] = {}

    def need(name: str, have: int, want: int, what: str, knob: str) -> None:
        if have < want:
            raise AdvlabError(f"attack {name} needs {want} {what} but only {have} were trained; "
                              f"raise {knob} or drop {name} from membership.attack.attacks")

    with warnings.catch_warnings():
        # ML-Leaks' MLP on 3 features often stops at max_iter; its scores are what the paper's attack gives
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        for name in a.attacks:
            try:
                if name == "loss":
                    out[name] = (loss_attack(zt, y, query=0), AttackCost())
                elif name == "ml_leaks":
                    need(name, k, 1, "shadow model(s)", "split.shadow_models")
                    out[name] = (ml_leaks_attack(shadows.logits[0], shadows.keep[0], zt, seed=seed,
                                                 classifier=a.ml_leaks_classifier), _cost(shadows, [0]))
                elif name == "watson":
                    need(name, r, 1, "reference model(s)", "membership.references")
                    out[name] = (watson_attack(zt, refs.logits, y, query=0), _cost(refs, range(r)))
                elif name.startswith("lira_"):
                    need(name, k, 2 if "fixed" in name else 4, "shadow models", "split.shadow_models")
                    mode = "offline" if "offline" in name else "online"
                    q = slice(0, 1) if name.endswith("1query") else slice(None)
                    out[name] = (lira_attack(zt[:, q], shadows.logits[:, :, q], shadows.keep, y, mode=mode,
                                             fix_variance="fixed" in name), _cost(shadows, range(k)))
                elif name == "ldc_mia":
                    need(name, k, 1, "shadow model(s)", "split.shadow_models")
                    need(name, r, 1, "reference model(s)", "membership.references")
                    out[name] = (ldc_mia_attack(shadows.logits[0], refs.logits[0], y, shadows.keep[0], zt,
                                                refs.logits[0], y, threshold=a.ldc_threshold, epochs=a.ldc_epochs,
                                                seed=seed),
                                 _cost(shadows, [0]) + _cost(refs, [0]))
                elif name == "rmia_offline":
                    for n_ref in a.rmia_references:
                        need(f"rmia_offline_r{n_ref}", r, n_ref, "reference model(s) (membership.attack.rmia_references)",
                             "membership.references")
                        out[f"rmia_offline_r{n_ref}"] = (
                            rmia_attack(zt, y, refs.logits, t_pop.logits[0], t_pop.labels, r_pop.logits, mode="offline",
                                        num_reference=n_ref, a=a.rmia_a, gamma=a.rmia_gamma, query=None),
                            _cost(refs, range(n_ref)))
                elif name == "rmia_online":
                    need(name, k, 2, "shadow models", "split.shadow_models")
                    out[name] = (rmia_attack(zt, y, shadows.logits, t_pop.logits[0], t_pop.labels, s_pop.logits,
                                             mode="online", reference_keep=shadows.keep, gamma=a.rmia_gamma, query=None),
                                 _cost(shadows, range(k)))
                else:  # the params schema lists the names; this is a bug guard
                    raise AdvlabError(f"unknown membership attack {name!r}")
            except AdvlabError as err:
                msg = str(err)
                raise AdvlabError(msg if msg.startswith("attack ") else f"attack {name}: {msg}") from None
    return out


def attack_variant(variant: str, m, plan, data, shared) -> tuple[dict, pd.DataFrame]:
    target, t_pop = load_signals(f"target_{variant}", plan.hash, data.pool_hash)
    members = target.keep[0]
    shadows, refs, s_pop, r_pop = shared
    results = run_attacks(target, shadows, refs, t_pop, s_pop, r_pop, m.attack, seed=m.seed)
    fpr_class = max(m.attack.fprs)
    records, curves, scores = {}, [], {}
    for name, (s, cost) in results.items():
        rec = attack_record(name, s, members, cost, m.attack.fprs)
        rec["per_class"] = {str(c): v for c, v in per_class_tpr_at_fpr(s, members, target.labels, fpr_class).items()}
        rec["per_class_fpr"] = fpr_class
        records[name] = rec
        f, t, _ = roc(s, members)
        curves.append(pd.DataFrame({"variant": variant, "attack": name, "fpr": f, "tpr": t}))
        scores[name] = s.astype(np.float64)
    tmeta = target.meta["models"][0]
    info = {"variant": variant, "role": m.targets[variant].role, "plan_hash": plan.hash,
            "target": {k: v for k, v in tmeta.items() if k != "model"},
            "shadow_models": shadows.n_models, "reference_models": refs.n_models,
            "pool": int(len(data.pool)), "population": int(len(data.population)),
            "queries": target.meta.get("queries"), "attacks": records}
    out = RESULTS / "attack"
    write_json(out / f"{variant}.json", info)
    write_npz(out / f"{variant}_scores.npz", members=members, labels=target.labels,
              pool_index=np.asarray(target.meta["pool_index"]), **{f"score_{k}": v for k, v in scores.items()})
    print(f"{variant}: target test acc {tmeta.get('test_accuracy', float('nan')):.3f}, "
          f"{int(members.sum())} members / {int((~members).sum())} non-members")
    for name, rec in records.items():
        tp = rec["tpr_at_fpr"]
        print(f"  {name:22s} AUC {rec['auc']:.3f}  TPR@0.1% {tp.get('0.001', float('nan')):.3f}  "
              f"TPR@1% {tp.get('0.01', float('nan')):.3f}  cost {rec['cost']['models_trained']} models "
              f"{rec['cost']['training_seconds']:.0f} s")
    return info, pd.concat(curves, ignore_index=True)


@stage
def main() -> None:
    p = load_params()
    m = settings(p)
    for f in m.attack.fprs:
        check(0.0 < f < 1.0, f"membership.attack.fprs: every FPR must lie strictly between 0 and 1; got {f}")
    _, plan = load_prepared()
    data = mia_data(plan, m)
    shadows, s_pop = load_signals("shadows", plan.hash, data.pool_hash)
    refs, r_pop = load_signals("references", plan.hash, data.pool_hash)
    shutil.rmtree(RESULTS / "attack", ignore_errors=True)
    summary, curves = {}, []
    for variant in m.targets:
        info, roc_df = attack_variant(variant, m, plan, data, (shadows, refs, s_pop, r_pop))
        curves.append(roc_df)
        summary[variant] = {"role": info["role"], "test_accuracy": info["target"].get("test_accuracy"),
                            **({"epsilon": info["target"]["privacy"]["epsilon"]} if "privacy" in info["target"] else {}),
                            "attacks": {a: {"auc": r["auc"], **{f"tpr@{k}": v for k, v in r["tpr_at_fpr"].items()},
                                            "n_nonmembers": r["n_nonmembers"]} for a, r in info["attacks"].items()}}
    write_csv(RESULTS / "roc.csv", pd.concat(curves, ignore_index=True))
    write_json(RESULTS / "metrics.json", summary)


if __name__ == "__main__":
    sys.exit(main())
