"""The uncertainty family (SPEC §4: ACE, Galil & El-Yaniv, NeurIPS 2021) as library calls.

One *case* is one estimator (:data:`advlab.models.registry.ESTIMATORS`) over its models:
``<estimator>_<model>``, or ``ensemble`` over the members of ``uncertainty.ensemble``. On
the first ``uncertainty.run.eval_size`` examples of the split plan's ``attack_eval``
subset, for every ε of ``uncertainty.run.eps``, :func:`run_case` runs white-box ACE
(step-halving, gradient from the estimator), black-box ACE (gradient from the proxy,
label queries to the target counted) and the iterative label-preserving ACE (PGD with the
``ace`` objective), each through :func:`advlab.attacks.run_attack` in chunks of
``uncertainty.run.batch_size`` (chunk ``b`` seeded ``seed + b``). After each one it
re-evaluates the estimator on ``x_adv`` and raises if a single prediction changed:
accuracy must be exactly unchanged. Metrics (SPEC §1): accuracy, AURC, E-AURC, AUROC,
selective risk at ``uncertainty.run.coverages``, risk–coverage curves; samples/s.

A deep-ensemble member's link record (:func:`member_record`: its own softmax metrics and
checkpoint hash) lets the ensemble case depend on the members' weights in DVC.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from advlab.attacks import run_attack
from advlab.data.prepared import to_tensors
from advlab.errors import AdvlabError
from advlab.io import read_json
from advlab.metrics.selective import risk_coverage_curve, selective_summary
from advlab.models.checkpoint import WEIGHTS
from advlab.models.estimators import build_estimator
from advlab.models.registry import ESTIMATORS
from advlab.progress import progress

RESULTS = Path("results/uncertainty")
MODES = ("white", "black", "iterative")


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def models_of(u, kind: str) -> list[str]:
    """The models ``uncertainty.<kind>`` lists for estimator ``kind``."""
    names = getattr(u, kind, None) if kind in ESTIMATORS else None
    if not isinstance(names, list):
        raise AdvlabError(f"uncertainty: estimator {kind!r} has no model list in params; choose one of "
                          f"{', '.join(k for k in ESTIMATORS.names() if isinstance(getattr(u, k, None), list))}")
    return names


def eval_set(u, ds, plan) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    idx = np.asarray(plan["attack_eval"])[: u.run.eval_size]
    x, y = to_tensors(ds, idx)
    return idx, x, y


def estimator(kind: str, models, names, u, seed: int):
    """The estimator of a case, given the options it declares (``T``, ``seed`` for MC-Dropout)."""
    offered = {"T": u.mc_dropout_T, "seed": seed}
    own = {k: v for k, v in offered.items() if k in ESTIMATORS.meta(kind)["options"]}
    return build_estimator(kind, models, names, **own)


@torch.no_grad()
def predict(est, x: torch.Tensor, batch_size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions ŷ and uncertainty scores κ (``est.outputs``) of an estimator, batched; on the CPU."""
    preds, confs = [], []
    for i in range(0, len(x), batch_size):
        logp, kappa = est.outputs(x[i:i + batch_size].to(device, non_blocking=True))
        preds.append(logp.argmax(1))
        confs.append(kappa.double())
    return torch.cat(preds).cpu(), torch.cat(confs).cpu()  # one copy back, not one per batch


def attack(est, x, y, mode: str, eps: float, run, proxy, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """One ACE mode at one ε over the evaluation set; returns ``(x_adv, target queries)``."""
    common = dict(batch_size=run.batch_size, device=device, eps=eps, seed=seed)
    if mode == "white":
        r = run_attack("ace", est, x, y, halvings=run.halvings, **common)
    elif mode == "black":
        r = run_attack("ace", est, x, y, halvings=run.halvings, proxy=proxy, **common)
    else:
        r = run_attack("pgd", est, x, y, objective="ace", steps=run.iterative_steps, random_start=False, **common)
    return r.x_adv, r.queries


def check_invariant(pred0: torch.Tensor, pred1: torch.Tensor, y: torch.Tensor, what: str) -> None:
    """SPEC §4: no prediction changes, so accuracy is exactly unchanged; else fail loudly."""
    changed = int((pred1 != pred0).sum())
    if changed:
        raise AdvlabError(f"{what} changed {changed} of {len(y)} predictions: the label-preserving invariant is broken")
    acc0, acc1 = float((pred0 == y).double().mean()), float((pred1 == y).double().mean())
    if acc0 != acc1:
        raise AdvlabError(f"{what} changed the accuracy: {acc0} -> {acc1}")


def modes(run) -> list[str]:
    return [m for m in MODES if (m != "black" or run.black_box) and (m != "iterative" or run.iterative_steps > 0)]


def member_record(name: str, model, x, y, u, device, models_root: Path = Path("models")) -> dict:
    """An ensemble member's own softmax metrics and the hash of its checkpoint."""
    pred, conf = predict(build_estimator("softmax", [model], [name]), x, u.run.batch_size, device)
    metrics = selective_summary(conf.numpy(), (pred == y).numpy(), u.run.coverages)
    return {"model": name, "checkpoint_sha256": file_hash(models_root / name / WEIGHTS), "n": len(y), **metrics}


def check_member_links(names: list[str], models_root: Path = Path("models")) -> None:
    """The members' link files must describe the checkpoints the ensemble case loads."""
    for n in names:
        f = RESULTS / "members" / f"{n}.json"
        if not f.is_file() or read_json(f).get("checkpoint_sha256") != file_hash(models_root / n / WEIGHTS):
            raise AdvlabError(f"{f} is missing or describes another checkpoint of models/{n}; "
                              f"run `dvc repro ace_member@{n}`")


@dataclass
class Case:
    """What one case writes: ``ace/<name>.json``, ``_sweep.csv``, ``_rc.csv`` and ``.npz``."""

    name: str
    record: dict
    sweep: pd.DataFrame
    curves: pd.DataFrame
    arrays: dict = field(default_factory=dict)


def run_case(kind: str, names: list[str], est, x, y, idx, u, proxy, device, seed: int, started: float) -> Case:
    """Attack one estimator over the ε sweep of ``uncertainty.run`` (module docstring)."""
    run = u.run
    case = kind if ESTIMATORS.meta(kind).get("ensemble") else f"{kind}_{names[0]}"
    t0 = time.perf_counter()
    pred0, conf0 = predict(est, x, run.batch_size, device)
    infer_s = time.perf_counter() - t0
    correct = (pred0 == y).numpy()
    clean = selective_summary(conf0.numpy(), correct, run.coverages)
    ms = modes(run)
    confs = np.full((len(ms), len(run.eps), len(y)), np.nan)
    rows, curves = [], []
    cov, risk = risk_coverage_curve(conf0.numpy(), correct)
    curves.append(pd.DataFrame({"condition": "clean", "mode": "clean", "eps": 0.0, "coverage": cov, "risk": risk}))
    adv_images: dict[tuple[int, int], torch.Tensor] = {}
    bar = progress(total=len(ms) * len(run.eps), desc=f"ACE {case}", unit="attack")
    for mi, mode in enumerate(ms):
        for ei, eps in enumerate(run.eps):
            bar.set_postfix_str(f"{mode} ε={eps:g}")
            bar.update(0)
            t0 = time.perf_counter()
            xa, queries = attack(est, x, y, mode, eps, run, proxy, seed, device)
            seconds = time.perf_counter() - t0
            pred1, conf1 = predict(est, xa, run.batch_size, device)
            check_invariant(pred0, pred1, y, f"ACE ({mode}, ε={eps}) on the {kind} estimator of {', '.join(names)}")
            m = selective_summary(conf1.numpy(), correct, run.coverages)
            confs[mi, ei] = conf1.numpy()
            adv_images[(mi, ei)] = xa
            delta = (xa - x).flatten(1)
            rows.append({"mode": mode, "eps": eps, **m,
                         "auroc_drop": clean["auroc"] - m["auroc"],
                         "aurc_ratio": m["aurc"] / clean["aurc"] if clean["aurc"] > 0 else float("nan"),
                         "moved": float((delta.abs().amax(1) > 0).double().mean()),
                         "linf_max": float(delta.abs().max()),
                         "target_queries_mean": float(queries.double().mean()),
                         "target_queries_total": int(queries.sum()),
                         "seconds": seconds, "samples_per_s": len(y) / seconds})
            cov, risk = risk_coverage_curve(conf1.numpy(), correct)
            curves.append(pd.DataFrame({"condition": f"{mode}@{eps:g}", "mode": mode, "eps": eps,
                                        "coverage": cov, "risk": risk}))
            print(f"{case} {mode:9s} ε={eps:<7g} AUROC {clean['auroc']:.3f} -> {m['auroc']:.3f}  "
                  f"AURC {clean['aurc']:.4f} -> {m['aurc']:.4f}  accuracy {m['accuracy']:.4f} (unchanged)  "
                  f"{len(y) / seconds:.0f} samples/s", flush=True)
            bar.update()
    bar.close()
    sweep = pd.DataFrame(rows)
    summary = {mode: _best(sweep, mode) for mode in ms}
    gal = gallery(x, y, pred0, conf0, confs, adv_images, ms, run, sweep)
    out = {
        "case": case, "estimator": kind, "models": names, "proxy": u.proxy if run.black_box else None,
        "T": getattr(est, "T", None), "n": len(y), "eps": run.eps,
        "coverages": run.coverages, "clean": clean, "summary": summary, "sweep": rows,
        "samples_per_s": {"inference": len(y) / infer_s,
                          **{f"attack_{mode}": summary[mode].get("samples_per_s") for mode in ms}},
        "accuracy_unchanged": True, "gallery": {k: v for k, v in gal.items() if k == "eps" or k == "pairs_inverted"},
        "device": str(device), "threads": torch.get_num_threads(),
    }
    if ESTIMATORS.meta(kind).get("ensemble"):
        out["members"] = {n: read_json(RESULTS / "members" / f"{n}.json") for n in names}
    out["stage_seconds"] = time.perf_counter() - started
    arrays = dict(index=idx, y=y.numpy(), pred=pred0.numpy(), conf_clean=conf0.numpy(), conf_adv=confs,
                  modes=np.array(ms), eps=np.array(run.eps),
                  **{f"gallery_{k}": v for k, v in gal.items() if isinstance(v, np.ndarray)})
    w = summary.get("white", {})
    print(f"{case}: clean AUROC {clean['auroc']:.3f}, AURC {clean['aurc']:.4f}; white-box min AUROC "
          f"{w.get('min_auroc', float('nan')):.3f} at ε={w.get('eps_at_min_auroc')}, max AURC ×"
          f"{w.get('max_aurc_ratio', float('nan')):.2f}; black-box max AUROC drop "
          f"{summary.get('black', {}).get('max_auroc_drop', float('nan')):.3f}; "
          f"{out['samples_per_s']['inference']:.0f} samples/s inference; {out['stage_seconds']:.1f} s")
    return Case(case, out, sweep, pd.concat(curves, ignore_index=True), arrays)


def _best(sweep: pd.DataFrame, mode: str) -> dict:
    s = sweep[sweep["mode"] == mode]
    if s.empty or s["auroc"].isna().all():
        return {}
    r = s.loc[s["auroc"].idxmin()]
    return {"eps_at_min_auroc": float(r["eps"]), "min_auroc": float(r["auroc"]),
            "max_auroc_drop": float(s["auroc_drop"].max()), "max_aurc_ratio": float(s["aurc_ratio"].max()),
            "aurc_ratio_at_min_auroc": float(r["aurc_ratio"]), "samples_per_s": float(s["samples_per_s"].mean())}


def gallery(x, y, pred0, conf0, confs, adv_images, ms, run, sweep) -> dict:
    """Wrong predictions made most confident and right ones made least confident by white-box
    ACE at the ε where its AUROC is lowest (the report's gallery)."""
    k = run.gallery
    white = sweep[sweep["mode"] == "white"]
    if k == 0 or white.empty or white["auroc"].isna().all():
        return {}
    ei = int(white["auroc"].values.argmin())
    mi = ms.index("white")
    conf1 = torch.from_numpy(confs[mi, ei])
    xa = adv_images[(mi, ei)]
    wrong = (pred0 != y).nonzero().squeeze(1)
    right = (pred0 == y).nonzero().squeeze(1)
    w = wrong[conf1[wrong].argsort(descending=True)[:k]]
    r = right[conf1[right].argsort()[:k]]
    pick = torch.cat([w, r])
    n = min(len(w), len(r))
    return {
        "eps": float(run.eps[ei]),
        "pairs_inverted": int((conf1[w[:n]] > conf1[r[:n]]).sum()),
        "which": np.array(["wrong"] * len(w) + ["right"] * len(r)),
        "x": x[pick].numpy().astype(np.float32), "x_adv": xa[pick].numpy().astype(np.float32),
        "y": y[pick].numpy(), "pred": pred0[pick].numpy(),
        "conf_clean": conf0[pick].numpy(), "conf_adv": conf1[pick].numpy(),
    }
