"""Calibration-attack stages (SPEC §3, Obadinma et al., arXiv 2401.02718; issue 4).

``python -m advlab.stages.calibration attack <model>``
    every calibration objective × search at the default ε on the first ``n_eval`` examples of
    ``split.attack_eval``; the standard Square Attack (margin loss) and PGD (CE) on the same
    inputs for comparison; detection AUROC of feature squeezing, Mahalanobis and LID for each
    attack. Writes ``results/calibration/attack/<model>{.json,_reliability.csv,_samples.npz}``.
``python -m advlab.stages.calibration sweep``
    ε sweep (Square L∞ and PGD L∞) and query-budget sweep (Square L∞) on ``sweep.model``.
    Writes ``results/calibration/sweep/{eps,queries}.csv``.
``python -m advlab.stages.calibration target <name>``
    a defended or long-tailed variant (``calibration.targets.<name>``) attacked ADAPTIVELY:
    the attacker queries the defended module itself (temperature-scaled, Compression-Scaled,
    or a model trained with label smoothing / PGD-AT / CAAT / a long-tailed set).
    Writes ``results/calibration/targets/<name>.json``.

Every attack runs batched over the whole evaluation subset (one ``run_attack`` call).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from advlab.attacks import run_attack
from advlab.data.prepared import load_prepared, to_tensors
from advlab.errors import AdvlabError
from advlab.io import write_csv, write_json, write_npz
from advlab.metrics import calibration as cal
from advlab.models.checkpoint import load_trained
from advlab.params import CalibrationParams
from advlab.stages.common import family, load_params, require, resolve_device, stage

RESULTS = Path("results/calibration")
SEARCHES = {"square_linf": ("square", "linf"), "square_l2": ("square", "l2"),
            "pgd_linf": ("pgd", "linf"), "pgd_l2": ("pgd", "l2")}
STANDARD_OBJECTIVE = {"square": "margin", "pgd": "ce"}
SHORT = {"underconfidence": "under", "overconfidence": "over", "max_miscalibration": "maxmis",
         "random_confidence": "random", "margin": "standard", "ce": "standard"}
_THRESHOLDS = {"underconfidence": ("tau_u",), "overconfidence": ("tau_o",),
               "max_miscalibration": ("tau_u", "tau_o"), "random_confidence": ("tolerance",)}


def attack_kwargs(c: CalibrationParams, search: str, objective: str, eps: float | None = None,
                  n_queries: int | None = None) -> dict:
    """``run_attack`` keyword arguments of one (search, objective) from the params."""
    if search not in SEARCHES:
        raise AdvlabError(f"calibration: unknown search {search!r}; allowed: {sorted(SEARCHES)}")
    name, norm = SEARCHES[search]
    kw = {"norm": norm, "eps": float(getattr(c.eps, norm) if eps is None else eps), "objective": objective,
          "seed": c.seed}
    kw.update({k: getattr(c.thresholds, k) for k in _THRESHOLDS.get(objective, ())})
    if name == "square":
        kw["n_queries"] = c.attack.n_queries if n_queries is None else n_queries
    else:
        kw["steps"] = c.attack.pgd_steps
    return {"name": name, **kw}


def run_one(model, x, y, kw: dict):
    """Run one attack; returns the result, its wall time and its CPU time (process) in seconds.

    The CPU time is what the attack costs on an idle machine with one thread; the wall time
    also counts waiting for a shared CPU."""
    kw = dict(kw)
    name = kw.pop("name")
    t0, c0 = time.perf_counter(), time.process_time()
    r = run_attack(name, model, x, y, **kw)
    secs = (time.perf_counter() - t0, time.process_time() - c0)
    r.done_clean = done_at_clean(r, kw)
    return r, secs


def done_at_clean(r, kw: dict) -> torch.Tensor:
    """Which inputs already met the attack's goal before it started (e.g. confidence already
    ≥ τ_o, or already misclassified), so their few queries say nothing about the attack's
    cost. Rebuilt from the engine's objective with the attack's seed, so the random-confidence
    targets are the ones the attack drew."""
    from advlab.attacks.objectives import make_objective

    obj = make_objective(kw["objective"], **{k: kw[k] for k in ("tau_u", "tau_o", "tolerance") if k in kw})
    logp = r.probs_clean.clamp_min(1e-30).log()
    gen = torch.Generator().manual_seed(kw["seed"])
    state = obj.prepare(logp, r.y, None, gen)
    return obj.done(logp, None, state).cpu()


def attack_row(r, seconds, n_bins: int = cal.N_BINS) -> dict:
    """The family's metrics table for one attack: calibration before/after, queries, norms, speed.

    ``seconds``: wall seconds, or ``(wall, cpu)`` as :func:`run_one` returns them."""
    seconds, cpu = seconds if isinstance(seconds, tuple) else (seconds, float("nan"))
    before, after = cal.summary(r.probs_clean, r.y, n_bins), cal.summary(r.probs_adv, r.y, n_bins)
    s = r.summary()
    q = r.queries.double()
    perturbed = r.linf > 0
    row = {f"{k}_clean": v for k, v in before.items()} | {f"{k}_adv": v for k, v in after.items()}
    needed = r.success & ~getattr(r, "done_clean", torch.zeros_like(r.success))
    q_needed = q[needed]
    row.update({
        "n": len(r), "success_rate": s["success_rate"], "done_at_clean_rate": float((r.success & ~needed).double().mean()),
        "queries_median_needed": float(q_needed.median()) if len(q_needed) else float("nan"),
        "queries_mean_needed": float(q_needed.mean()) if len(q_needed) else float("nan"), "prediction_changed_rate": s["prediction_changed_rate"],
        "perturbed_rate": float(perturbed.double().mean()),
        "queries_mean": s["queries_mean_success"], "queries_median": s["queries_median_success"],
        "queries_median_all": float(q.median()), "queries_mean_all": float(q.mean()),
        "queries_total": s["queries_total"],
        "linf_mean": s["linf_mean"], "linf_max": s["linf_max"], "l2_mean": s["l2_mean"], "l2_max": s["l2_max"],
        "linf_mean_perturbed": float(r.linf[perturbed].double().mean()) if perturbed.any() else 0.0,
        "l2_mean_perturbed": float(r.l2[perturbed].double().mean()) if perturbed.any() else 0.0,
        "seconds": seconds, "samples_per_s": len(r) / seconds if seconds > 0 else float("nan"),
        "cpu_seconds": cpu, "samples_per_cpu_s": len(r) / cpu if cpu > 0 else float("nan"),
    })
    return row


def eval_set(p, c: CalibrationParams):
    ds, plan = load_prepared()
    idx = plan["attack_eval"][: c.n_eval]
    x, y = to_tensors(ds, idx)
    return ds, plan, idx, x, y


def _load(name: str, device, plan) -> torch.nn.Module:
    return load_trained(name, plan.hash, device)[0]


def _settings(p) -> CalibrationParams:
    return family(p, "calibration")


def _reliability_rows(model_name: str, attack: str, probs, y, n_bins: int) -> pd.DataFrame:
    rel = cal.reliability(*cal.confidence_and_correct(probs, y), n_bins=n_bins)
    df = pd.DataFrame(rel)
    df.insert(0, "attack", attack)
    df.insert(0, "model", model_name)
    return df


@torch.no_grad()
def _confidence(probs: torch.Tensor) -> np.ndarray:
    return probs.amax(1).numpy().astype(np.float32)


def attack_stage(p, name: str) -> dict:
    c = _settings(p)
    require(name, c.models, "calibration.models")
    device = resolve_device(p.device)
    t_stage = time.perf_counter()
    ds, plan, idx, x, y = eval_set(p, c)
    model = _load(name, device, plan)
    x, y = x.to(device), y.to(device)
    runs = [(f"{SHORT[o]}_{s}", s, o) for o in c.attack.objectives for s in c.attack.searches]
    runs += [(f"standard_{s}", s, STANDARD_OBJECTIVE[SEARCHES[s][0]]) for s in c.attack.standard]

    rows, rel, arrays = {}, [], {"index": idx, "labels": y.cpu().numpy()}
    adversarial, masks = {}, {}
    for key, search, objective in runs:
        r, secs = run_one(model, x, y, attack_kwargs(c, search, objective))
        row = {"search": search, "objective": objective, "kind": "standard" if key.startswith("standard") else "calibration",
               **attack_row(r, secs, p.evaluate.n_bins)}
        rows[key] = row
        adversarial[key], masks[key] = r.x_adv, r.linf > 0
        if "conf_clean" not in arrays:
            arrays["conf_clean"] = _confidence(r.probs_clean)
            arrays["pred_clean"] = r.clean_pred.numpy()
            rel.append(_reliability_rows(name, "clean", r.probs_clean, r.y, p.evaluate.n_bins))
        arrays[f"{key}_conf"] = _confidence(r.probs_adv)
        arrays[f"{key}_pred"] = r.adv_pred.numpy()
        arrays[f"{key}_queries"] = r.queries.numpy()
        arrays[f"{key}_linf"] = r.linf.numpy()
        arrays[f"{key}_l2"] = r.l2.numpy()
        arrays[f"{key}_success"] = r.success.numpy()
        rel.append(_reliability_rows(name, key, r.probs_adv, r.y, p.evaluate.n_bins))
        print(f"{name} {key:24s} ECE {row['ece_clean']:.4f} -> {row['ece_adv']:.4f}  conf "
              f"{row['mean_confidence_clean']:.3f} -> {row['mean_confidence_adv']:.3f}  acc "
              f"{row['accuracy_clean']:.4f} -> {row['accuracy_adv']:.4f}  median q {row['queries_median']:.0f}  "
              f"{row['samples_per_s']:.1f} samples/s ({row['samples_per_cpu_s']:.1f} per CPU-s)", flush=True)
    if c.detection.detectors:
        # the evasion family's helper; positives are the inputs an attack actually perturbed
        # (an input already past a calibration threshold is left unchanged: not an adversarial example)
        from advlab.defenses.detection_eval import evaluate_detectors

        xv, yv = to_tensors(ds, plan["validation"][: c.detection.fit_size])
        t0 = time.perf_counter()
        det = evaluate_detectors(model, xv.to(device), yv.to(device), x, adversarial, c.detection.detectors,
                                 masks=masks, lid_k=c.detection.lid_k, lid_reference=min(len(xv), 1000),
                                 seed=c.seed)
        for d in det:
            rows[d["attack"]].setdefault("detection_auroc", {})[d["detector"]] = d["auroc"]
        print(f"{name} detection: {len(det)} AUROCs in {time.perf_counter() - t0:.1f} s", flush=True)
    metrics = {"model": name, "n": len(y), "eps": c.eps.model_dump(), "n_queries": c.attack.n_queries,
               "pgd_steps": c.attack.pgd_steps, "attacks": rows, "stage_seconds": time.perf_counter() - t_stage,
               "stage_cpu_seconds": time.process_time(), "device": str(device), "threads": torch.get_num_threads()}
    out = RESULTS / "attack"
    write_npz(out / f"{name}_samples.npz", **arrays)
    write_csv(out / f"{name}_reliability.csv", pd.concat(rel, ignore_index=True))
    write_json(out / f"{name}.json", metrics)
    print(f"calibration attack {name}: {len(runs)} attacks on {len(y)} inputs in {metrics['stage_seconds']:.1f} s")
    return metrics


def sweep_stage(p) -> None:
    c = _settings(p)
    s = c.sweep
    device = resolve_device(p.device)
    t_stage = time.perf_counter()
    _, plan, _, x, y = eval_set(p, c)
    model = _load(s.model, device, plan)
    x, y = x.to(device), y.to(device)

    def record(search, objective, eps, n_queries, r, secs):
        row = attack_row(r, secs, p.evaluate.n_bins)
        return {"model": s.model, "search": search, "objective": objective, "eps": eps, "n_queries": n_queries,
                **{k: row[k] for k in ("ece_clean", "ece_adv", "ks_clean", "ks_adv", "mce_adv",
                                       "mean_confidence_clean", "mean_confidence_adv", "accuracy_clean",
                                       "accuracy_adv", "queries_median", "queries_median_all", "queries_total",
                                       "linf_mean", "l2_mean", "success_rate", "seconds", "samples_per_s",
                                       "cpu_seconds", "samples_per_cpu_s")}}

    eps_rows, q_rows = [], []
    for objective in s.objectives:
        for search in s.eps_searches:
            for eps in s.eps_linf:
                kw = attack_kwargs(c, search, objective, eps=eps)
                if SEARCHES[search][1] != "linf":
                    raise AdvlabError(f"calibration.sweep.eps_searches: {search!r} is not an L∞ search")
                r, secs = run_one(model, x, y, kw)
                eps_rows.append(record(search, objective, eps, kw.get("n_queries"), r, secs))
        for nq in s.queries:
            r, secs = run_one(model, x, y, attack_kwargs(c, "square_linf", objective, n_queries=nq))
            q_rows.append(record("square_linf", objective, c.eps.linf, nq, r, secs))
        print(f"sweep {objective}: done", flush=True)
    for nq in s.queries:  # the standard Square Attack under the same budgets
        r, secs = run_one(model, x, y, attack_kwargs(c, "square_linf", "margin", n_queries=nq))
        q_rows.append(record("square_linf", "margin", c.eps.linf, nq, r, secs))
    write_csv(RESULTS / "sweep" / "eps.csv", pd.DataFrame(eps_rows))
    write_csv(RESULTS / "sweep" / "queries.csv", pd.DataFrame(q_rows))
    write_json(RESULTS / "sweep" / "sweep.json", {"model": s.model, "stage_seconds": time.perf_counter() - t_stage,
                                                 "stage_cpu_seconds": time.process_time()})
    print(f"calibration sweep on {s.model}: {len(eps_rows) + len(q_rows)} attacks in "
          f"{time.perf_counter() - t_stage:.1f} s")


def defended(model, posthoc: str, x_val, y_val, batch_size: int):
    """The module the attacker queries: the model itself or its post-hoc defense."""
    from advlab.defenses import CompressionScaling, calibrate_temperature
    from advlab.models.estimators import Softmax

    if posthoc == "none":
        return Softmax(model), {}
    if posthoc == "temperature":
        wrapped = calibrate_temperature(model, x_val, y_val, batch_size)
        return wrapped, {"temperature": float(wrapped.temperature)}
    if posthoc == "compression_scaling":
        return CompressionScaling(model), {}
    raise AdvlabError(f"calibration: unknown post-hoc defense {posthoc!r}; allowed: none, temperature, "
                      "compression_scaling")


def target_stage(p, name: str) -> None:
    c = _settings(p)
    require(name, c.targets, "calibration.targets")
    t = c.targets[name]
    device = resolve_device(p.device)
    t_stage = time.perf_counter()
    ds, plan, _, x, y = eval_set(p, c)
    model = _load(t.model, device, plan)
    xv, yv = to_tensors(ds, plan["validation"])
    module, extra = defended(model, t.posthoc, xv.to(device), yv.to(device), c.batch_size)
    x, y = x.to(device), y.to(device)
    mp = p.models[t.model]
    rows = {}
    for objective in c.attack.objectives:
        for search in c.target_searches:
            r, secs = run_one(module, x, y, attack_kwargs(c, search, objective))
            rows[f"{SHORT[objective]}_{search}"] = {"search": search, "objective": objective,
                                                    **attack_row(r, secs, p.evaluate.n_bins)}
    first = next(iter(rows.values()))
    metrics = {
        "target": name, "model": t.model, "posthoc": t.posthoc, "role": t.role,
        "train_objective": mp.train.objective, "label_smoothing": mp.train.label_smoothing,
        "imbalance_ratio": mp.train.imbalance_ratio or 1.0, **extra,
        "n": len(y), "clean": {k.removesuffix("_clean"): v for k, v in first.items() if k.endswith("_clean")},
        "attacks": rows, "stage_seconds": time.perf_counter() - t_stage, "stage_cpu_seconds": time.process_time(),
    }
    write_json(RESULTS / "targets" / f"{name}.json", metrics)
    worst = max(rows.values(), key=lambda r: r["ece_adv"])
    print(f"calibration target {name}: accuracy {metrics['clean']['accuracy']:.4f}, ECE "
          f"{metrics['clean']['ece']:.4f}, worst post-attack ECE {worst['ece_adv']:.4f} "
          f"({worst['objective']} {worst['search']}), {metrics['stage_seconds']:.1f} s")


@stage
def main(command: str, *args: str) -> None:
    p = load_params()
    if command == "attack" and len(args) == 1:
        attack_stage(p, args[0])
    elif command == "sweep" and not args:
        sweep_stage(p)
    elif command == "target" and len(args) == 1:
        target_stage(p, args[0])
    else:
        raise AdvlabError(f"calibration: usage: attack <model> | sweep | target <name> (got {command} {' '.join(args)})")


if __name__ == "__main__":
    sys.exit(main())
