"""The calibration-attack family's study (SPEC §3, Obadinma et al., arXiv 2401.02718; issue 4).

Three studies, each a function of the params (and a device) returning what its stage writes:

:func:`attack_study`
    every calibration objective × search at the default ε on the first ``n_eval`` examples of
    ``split.attack_eval``; the standard Square Attack (margin loss) and PGD (CE) on the same
    inputs for comparison; detection AUROC of every ``calibration.detection.detectors`` for
    each attack.
:func:`sweep_study`
    ε sweep and query-budget sweep (Square L∞) on ``sweep.model``.
:func:`target_study`
    a defended or long-tailed variant (``calibration.targets.<name>``) attacked ADAPTIVELY:
    the attacker queries the defended module itself (a :data:`advlab.defenses.posthoc.POSTHOC`
    defense, or a model trained with label smoothing / PGD-AT / CAAT / a long-tailed set).

The calibration searches are :data:`SEARCH` × the engine's norms, named ``<search>_<norm>``
(:data:`SEARCHES`); an objective's thresholds are the :class:`CalThresholds` fields its
constructor takes. Every attack runs over the whole evaluation subset in one
``run_attack`` call (``batch_size=None``).
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from advlab.attacks import run_attack
from advlab.attacks.constraints import NORMS
from advlab.attacks.objectives import make_objective
from advlab.data.prepared import load_prepared, to_tensors
from advlab.errors import AdvlabError
from advlab.metrics import calibration as cal
from advlab.models.checkpoint import load_trained
from advlab.params.calibration import CalibrationParams, CalThresholds
from advlab.progress import progress

__all__ = ["SEARCH", "SEARCHES", "short_name", "attack_kwargs", "run_one", "done_at_clean", "attack_row",
           "attack_study", "sweep_study", "target_study"]


@dataclass(frozen=True)
class Search:
    """An engine search as the calibration family runs it: its budget keyword, the
    ``calibration.attack`` setting that gives the budget, and its standard objective."""

    budget: str
    setting: str
    standard: str


SEARCH = {"square": Search("n_queries", "n_queries", "margin"), "pgd": Search("steps", "pgd_steps", "ce")}
SEARCHES: dict[str, tuple[str, str]] = {f"{s}_{n}": (s, n) for s in SEARCH for n in NORMS}
"""Calibration search name (``square_linf``, ...) → (engine search, norm)."""

_THRESHOLDS = tuple(CalThresholds.model_fields)
def short_name(objective: str) -> str:
    """An objective's prefix in the attack keys (``under`` in ``under_square_linf``): the
    ``short`` metadata of its engine registration (its name when it has none)."""
    from advlab.attacks.objectives import OBJECTIVES

    return OBJECTIVES.meta(objective).get("short", objective)


def _thresholds(c: CalibrationParams, objective: str) -> dict:
    """The ``calibration.thresholds`` the objective takes (its constructor's parameters)."""
    takes = inspect.signature(type(make_objective(objective))).parameters
    return {k: getattr(c.thresholds, k) for k in takes if k in _THRESHOLDS}


def attack_kwargs(c: CalibrationParams, search: str, objective: str, eps: float | None = None,
                  budget: int | None = None) -> dict:
    """``run_attack`` keyword arguments (plus ``name``) of one (search, objective) from the
    params; ``eps`` and ``budget`` (queries or steps) override the defaults."""
    if search not in SEARCHES:
        raise AdvlabError(f"calibration: unknown search {search!r}; allowed: {sorted(SEARCHES)}")
    name, norm = SEARCHES[search]
    s = SEARCH[name]
    kw = {"norm": norm, "eps": float(getattr(c.eps, norm) if eps is None else eps), "objective": objective,
          "seed": c.seed}
    kw.update(_thresholds(c, objective))
    kw[s.budget] = getattr(c.attack, s.setting) if budget is None else budget
    return {"name": name, **kw}


def run_one(model, x, y, kw: dict):
    """Run one attack; returns the result, its wall time and its CPU time (process) in seconds.

    The CPU time is what the attack costs on an idle machine with one thread; the wall time
    also counts waiting for a shared CPU."""
    kw = dict(kw)
    name = kw.pop("name")
    t0, c0 = time.perf_counter(), time.process_time()
    r = run_attack(name, model, x, y, batch_size=None, **kw)
    secs = (time.perf_counter() - t0, time.process_time() - c0)
    r.done_clean = done_at_clean(r, kw)
    return r, secs


def done_at_clean(r, kw: dict) -> torch.Tensor:
    """Which inputs already met the attack's goal before it started (e.g. confidence already
    ≥ τ_o, or already misclassified), so their few queries say nothing about the attack's
    cost. Rebuilt from the engine's objective with the attack's seed, so the random-confidence
    targets are the ones the attack drew."""
    obj = make_objective(kw["objective"], **{k: kw[k] for k in _THRESHOLDS if k in kw})
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


def _eval_set(c: CalibrationParams):
    ds, plan = load_prepared()
    idx = plan["attack_eval"][: c.n_eval]
    x, y = to_tensors(ds, idx)
    return ds, plan, idx, x, y


def _reliability_rows(model_name: str, attack: str, probs, y, n_bins: int) -> pd.DataFrame:
    rel = cal.reliability(*cal.confidence_and_correct(probs, y), n_bins=n_bins)
    df = pd.DataFrame(rel)
    df.insert(0, "attack", attack)
    df.insert(0, "model", model_name)
    return df


@torch.no_grad()
def _confidence(probs: torch.Tensor) -> np.ndarray:
    return probs.amax(1).numpy().astype(np.float32)


def _record(arrays: dict, key: str, r, *fields: str) -> None:
    """Add one attack's per-example arrays to a stage's npz: ``conf_clean`` and ``pred_clean``
    from the first attack, then ``<key>_conf``, ``<key>_pred`` and ``<key>_<field>`` for each
    of ``fields`` (attributes of the result: ``queries``, ``linf``, ...)."""
    if "conf_clean" not in arrays:
        arrays["conf_clean"] = _confidence(r.probs_clean)
        arrays["pred_clean"] = r.clean_pred.numpy()
    arrays[f"{key}_conf"] = _confidence(r.probs_adv)
    arrays[f"{key}_pred"] = r.adv_pred.numpy()
    for field in fields:
        arrays[f"{key}_{field}"] = getattr(r, field).numpy()


def _progress(name: str, key: str, row: dict) -> None:
    print(f"{name} {key:24s} ECE {row['ece_clean']:.4f} -> {row['ece_adv']:.4f}  conf "
          f"{row['mean_confidence_clean']:.3f} -> {row['mean_confidence_adv']:.3f}  acc "
          f"{row['accuracy_clean']:.4f} -> {row['accuracy_adv']:.4f}  median q {row['queries_median']:.0f}  "
          f"{row['samples_per_s']:.1f} samples/s ({row['samples_per_cpu_s']:.1f} per CPU-s)", flush=True)


def _detection(c: CalibrationParams, model, ds, plan, x, adversarial: dict, masks: dict, device) -> list[dict]:
    """Detection AUROC of every ``calibration.detection.detectors`` against every attack; positives
    are the inputs an attack actually perturbed (an input already past a calibration threshold
    is left unchanged: not an adversarial example)."""
    from advlab.defenses.detection_eval import evaluate_detectors

    xv, yv = to_tensors(ds, plan["validation"][: c.detection.fit_size])
    return evaluate_detectors(model, xv.to(device), yv.to(device), x, adversarial, c.detection.detectors,
                              masks=masks, lid_k=c.detection.lid_k, lid_reference=min(len(xv), 1000), seed=c.seed)


def attack_study(p, name: str, device: torch.device) -> dict:
    """``calibration_attack@<name>``: returns ``metrics`` (the JSON), ``arrays`` (the
    per-sample npz) and ``reliability`` (the reliability-diagram rows of every attack)."""
    c: CalibrationParams = p.calibration
    n_bins = p.evaluate.n_bins
    t_stage = time.perf_counter()
    ds, plan, idx, x, y = _eval_set(c)
    model = load_trained(name, plan.hash, device)[0]
    x, y = x.to(device), y.to(device)
    runs = [(f"{short_name(o)}_{s}", s, o) for o in c.attack.objectives for s in c.attack.searches]
    runs += [(f"standard_{s}", s, SEARCH[SEARCHES[s][0]].standard) for s in c.attack.standard]

    rows, rel, arrays = {}, [], {"index": idx, "labels": y.cpu().numpy()}
    adversarial, masks = {}, {}
    bar = progress(runs, desc=f"calibration_attack@{name}", unit="attack")
    for key, search, objective in bar:
        bar.set_postfix_str(key)
        r, secs = run_one(model, x, y, attack_kwargs(c, search, objective))
        row = {"search": search, "objective": objective, "kind": "standard" if key.startswith("standard") else "calibration",
               **attack_row(r, secs, n_bins)}
        rows[key] = row
        adversarial[key], masks[key] = r.x_adv, r.linf > 0
        if "conf_clean" not in arrays:
            rel.append(_reliability_rows(name, "clean", r.probs_clean, r.y, n_bins))
        _record(arrays, key, r, "queries", "linf", "l2", "success")
        rel.append(_reliability_rows(name, key, r.probs_adv, r.y, n_bins))
        _progress(name, key, row)
    if c.detection.detectors:
        t0 = time.perf_counter()
        det = _detection(c, model, ds, plan, x, adversarial, masks, device)
        for d in det:
            rows[d["attack"]].setdefault("detection_auroc", {})[d["detector"]] = d["auroc"]
        print(f"{name} detection: {len(det)} AUROCs in {time.perf_counter() - t0:.1f} s", flush=True)
    metrics = {"model": name, "n": len(y), "eps": c.eps.model_dump(), "n_queries": c.attack.n_queries,
               "pgd_steps": c.attack.pgd_steps, "attacks": rows, "stage_seconds": time.perf_counter() - t_stage,
               "stage_cpu_seconds": time.process_time(), "device": str(device), "threads": torch.get_num_threads()}
    return {"metrics": metrics, "arrays": arrays, "reliability": pd.concat(rel, ignore_index=True)}


_SWEEP_COLUMNS = ("ece_clean", "ece_adv", "ks_clean", "ks_adv", "mce_adv", "mean_confidence_clean",
                  "mean_confidence_adv", "accuracy_clean", "accuracy_adv", "queries_median", "queries_median_all",
                  "queries_total", "linf_mean", "l2_mean", "success_rate", "seconds", "samples_per_s",
                  "cpu_seconds", "samples_per_cpu_s")


def sweep_study(p, device: torch.device) -> dict:
    """``calibration_sweep``: the ε sweep (``eps``, every ``sweep.eps_searches`` × ``sweep.eps_linf``)
    and the query-budget sweep (``queries``, Square L∞ at the default ε, also the standard Square
    Attack) as tables, and ``meta`` (the JSON)."""
    c: CalibrationParams = p.calibration
    s = c.sweep
    t_stage = time.perf_counter()
    _, plan, _, x, y = _eval_set(c)
    model = load_trained(s.model, plan.hash, device)[0]
    x, y = x.to(device), y.to(device)

    bar = progress(total=len(s.objectives) * (len(s.eps_searches) * len(s.eps_linf) + len(s.queries)) + len(s.queries),
                   desc="calibration_sweep", unit="attack")

    def record(search, objective, eps, n_queries, kw=None):
        bar.set_postfix_str(f"{short_name(objective)} {search} ε={eps} q={n_queries}")
        r, secs = run_one(model, x, y, kw or attack_kwargs(c, search, objective, budget=n_queries))
        bar.update()
        row = attack_row(r, secs, p.evaluate.n_bins)
        return {"model": s.model, "search": search, "objective": objective, "eps": eps, "n_queries": n_queries,
                **{k: row[k] for k in _SWEEP_COLUMNS}}

    eps_rows, q_rows = [], []
    for objective in s.objectives:
        for search in s.eps_searches:
            if SEARCHES[search][1] != "linf":
                raise AdvlabError(f"calibration.sweep.eps_searches: {search!r} is not an L∞ search")
            for eps in s.eps_linf:
                kw = attack_kwargs(c, search, objective, eps=eps)
                eps_rows.append(record(search, objective, eps, kw.get("n_queries"), kw))
        for nq in s.queries:
            q_rows.append(record("square_linf", objective, c.eps.linf, nq))
        print(f"sweep {objective}: done", flush=True)
    for nq in s.queries:  # the standard Square Attack under the same budgets
        q_rows.append(record("square_linf", SEARCH["square"].standard, c.eps.linf, nq))
    bar.close()
    meta = {"model": s.model, "stage_seconds": time.perf_counter() - t_stage, "stage_cpu_seconds": time.process_time()}
    return {"eps": pd.DataFrame(eps_rows), "queries": pd.DataFrame(q_rows), "meta": meta}


def target_study(p, name: str, device: torch.device) -> dict:
    """``calibration_target@<name>``: every objective × ``target_searches`` against the target
    (its post-hoc defense included: the attack is adaptive); returns ``metrics`` (the JSON) and
    ``arrays`` (the per-sample npz: ``index``, ``labels``, ``conf_clean``, ``pred_clean``, and
    ``<key>_conf``, ``<key>_pred`` of every attack), which the claims resample."""
    from advlab.defenses.posthoc import defended

    c: CalibrationParams = p.calibration
    t = c.targets[name]
    t_stage = time.perf_counter()
    ds, plan, idx, x, y = _eval_set(c)
    model = load_trained(t.model, plan.hash, device)[0]
    xv, yv = to_tensors(ds, plan["validation"])
    module, extra = defended(model, t.posthoc, xv.to(device), yv.to(device), c.batch_size)
    x, y = x.to(device), y.to(device)
    mp = p.models[t.model]
    rows, arrays = {}, {"index": idx, "labels": y.cpu().numpy()}
    for objective in c.attack.objectives:
        for search in c.target_searches:
            key = f"{short_name(objective)}_{search}"
            r, secs = run_one(module, x, y, attack_kwargs(c, search, objective))
            rows[key] = {"search": search, "objective": objective, **attack_row(r, secs, p.evaluate.n_bins)}
            _record(arrays, key, r)
    first = next(iter(rows.values()))
    metrics = {
        "target": name, "model": t.model, "posthoc": t.posthoc, "role": t.role,
        "train_objective": mp.train.objective, "label_smoothing": mp.train.label_smoothing,
        "imbalance_ratio": mp.train.imbalance_ratio or 1.0, **extra,
        "n": len(y), "clean": {k.removesuffix("_clean"): v for k, v in first.items() if k.endswith("_clean")},
        "attacks": rows, "stage_seconds": time.perf_counter() - t_stage, "stage_cpu_seconds": time.process_time(),
    }
    return {"metrics": metrics, "arrays": arrays}
