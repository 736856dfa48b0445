"""Stage ``evasion@<model>``: every attack of ``evasion.attacks`` on one trained model
(SPEC §2), plus robust accuracy against ε (PGD, L∞) for the report's curves.

Writes ``results/evasion/attacks/<model>.json`` (one summary per attack: clean and robust
accuracy, success rate, norms, queries, seconds, samples/s), ``<model>_eps.csv`` (the ε
sweep) and ``<model>_adv.npz`` (clean inputs, adversarial inputs and predictions per
attack; the detection stage and the report's image grid read it).
"""

from __future__ import annotations

import sys
import time

import pandas as pd

from advlab.io import write_csv, write_json, write_npz
from advlab.stages.common import load_params, require, resolve_device, stage
from advlab.training.loop import predict_proba
from advlab.stages.evasion_common import RESULTS, attack_batched, eval_subset, section, trained


def run_attacks(name: str, ev, plan, x, y, device, seed: int, log=print):
    """Run the configured attacks on model ``name``; returns ``(summaries, arrays)``."""
    model = trained(name, plan, device)
    summaries = {}
    arrays = {"x": x.numpy(), "y": y.numpy(), "clean_pred": predict_proba(model, x, device=device).argmax(1).numpy()}
    for aname, a in ev.attacks.items():
        if a.models is not None and name not in a.models:
            continue
        n = min(len(x), a.n or len(x))
        params = {**a.params, "eps": a.eps, "norm": a.norm}
        if a.attack == "transfer":
            params["surrogate"] = trained(ev.surrogate, plan, device)
        t0 = time.perf_counter()
        res = attack_batched(a.attack, model, x[:n], y[:n], ev.batch_size, device, seed=seed, **params)
        dt = time.perf_counter() - t0
        s = res.summary()
        s.update({"attack": a.attack, "eps": a.eps, "norm": a.norm, "surrogate": ev.surrogate if a.attack == "transfer" else None,
                  "seconds": dt, "samples_per_s": n / dt})
        summaries[aname] = s
        arrays[f"{aname}_x_adv"] = res.x_adv.numpy()
        arrays[f"{aname}_adv_pred"] = res.adv_pred.numpy()
        arrays[f"{aname}_success"] = res.success.numpy()
        log(f"{name} {aname}: robust accuracy {s['robust_accuracy']:.3f} (clean {s['clean_accuracy']:.3f}), "
            f"success {s['success_rate']:.3f}, median queries {s['queries_median_success']:.0f}, "
            f"{n} samples in {dt:.1f} s")
    return model, summaries, arrays


def eps_sweep(model, ev, x, y, device, seed: int) -> pd.DataFrame:
    rows = []
    for eps in ev.sweep_eps:
        res = attack_batched("pgd", model, x, y, ev.batch_size, device, seed=seed, eps=eps, norm="linf",
                             steps=ev.sweep_steps)
        s = res.summary()
        rows.append({"eps": eps, "robust_accuracy": s["robust_accuracy"], "clean_accuracy": s["clean_accuracy"]})
    return pd.DataFrame(rows)


@stage
def main(name: str) -> None:
    p = load_params()
    ev = section(p)
    require(name, ev.models, "evasion.models")
    device = resolve_device(p.device)
    t0 = time.perf_counter()
    _, plan, x, y = eval_subset(ev.n_eval)
    model, summaries, arrays = run_attacks(name, ev, plan, x, y, device, p.seed)
    sweep = eps_sweep(model, ev, x, y, device, p.seed)
    sweep.insert(0, "model", name)
    out = RESULTS / "attacks"
    write_npz(out / f"{name}_adv.npz", **arrays)
    write_csv(out / f"{name}_eps.csv", sweep)
    write_json(out / f"{name}.json", {"model": name, "n_eval": len(x), "attacks": summaries,
                                      "stage_seconds": time.perf_counter() - t0})
    print(f"{name}: robust accuracy vs eps {dict(zip(sweep.eps, sweep.robust_accuracy.round(3)))}; "
          f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
