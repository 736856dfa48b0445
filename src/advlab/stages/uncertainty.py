"""Stages of the uncertainty family (SPEC §4: ACE, Galil & El-Yaniv, NeurIPS 2021).

* ``ace_softmax@<model>``, ``ace_mc_dropout@<model>``, ``ace_selectivenet@<model>`` and
  ``ace_ensemble``: ``python -m advlab.stages.uncertainty <estimator> [<model>]``. On the
  first ``uncertainty.run.eval_size`` examples of the split plan's ``attack_eval`` subset,
  for every ε of ``uncertainty.run.eps``: white-box ACE (step-halving, gradient from the
  estimator), black-box ACE (gradient from ``uncertainty.proxy``, label queries to the
  target counted) and the iterative label-preserving ACE (PGD with the ``ace`` objective).
  Every attack is the engine's (:func:`advlab.attacks.run_attack`), batched over the
  evaluation set. After each one the stage re-evaluates the estimator on ``x_adv`` and
  FAILS (exit 2) if a single prediction changed: accuracy must be exactly unchanged.
  Metrics (SPEC §1): accuracy, AURC, E-AURC, AUROC, selective risk at
  ``uncertainty.run.coverages``, risk–coverage curves; and samples/s per estimator.
* ``ace_member@<model>``: one deep-ensemble member's own softmax metrics and the hash
  of its checkpoint. ``ace_ensemble`` depends on the folder of these files (DVC cannot list
  a params list in ``deps``), so it reruns whenever a member's weights change, and it
  checks each hash against the checkpoint it loads.

Outputs under ``results/uncertainty/``: ``ace/<case>.json`` (metrics), ``ace/<case>_sweep.csv``
(one row per mode × ε), ``ace/<case>_rc.csv`` (risk–coverage curves), ``ace/<case>.npz``
(per-sample confidences before/after and the report's gallery images).
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from advlab.attacks import run_attack
from advlab.data.prepared import load_prepared, to_tensors
from advlab.errors import AdvlabError
from advlab.io import read_json, write_csv, write_json, write_npz
from advlab.metrics.selective import risk_coverage_curve, selective_summary
from advlab.models.checkpoint import WEIGHTS, load_trained
from advlab.models.estimators import SelectiveNet
from advlab.models.uncertainty import build_estimator
from advlab.stages.common import family, load_params, require, resolve_device, stage

RESULTS = Path("results/uncertainty")
MODES = ("white", "black", "iterative")


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _load(name: str, device, plan) -> torch.nn.Module:
    return load_trained(name, plan.hash, device)[0]


@torch.no_grad()
def predict(est, x: torch.Tensor, batch_size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions ŷ and uncertainty scores κ of an estimator, batched; on the CPU."""
    preds, confs = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        logp = est(xb)
        kappa = est.confidence(xb) if isinstance(est, SelectiveNet) else logp.exp().amax(1)
        preds.append(logp.argmax(1).cpu())
        confs.append(kappa.double().cpu())
    return torch.cat(preds), torch.cat(confs)


def attack(est, x, y, mode: str, eps: float, run, proxy, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """One ACE mode at one ε over the evaluation set (batched); returns ``(x_adv, target queries)``."""
    xs, qs = [], []
    for i in range(0, len(x), run.batch_size):
        xb, yb = x[i:i + run.batch_size].to(device), y[i:i + run.batch_size].to(device)
        if mode == "white":
            r = run_attack("ace", est, xb, yb, eps=eps, halvings=run.halvings, seed=seed)
        elif mode == "black":
            r = run_attack("ace", est, xb, yb, eps=eps, halvings=run.halvings, proxy=proxy, seed=seed)
        else:
            r = run_attack("pgd", est, xb, yb, objective="ace", eps=eps, steps=run.iterative_steps,
                           random_start=False, seed=seed)
        xs.append(r.x_adv)
        qs.append(r.queries)
    return torch.cat(xs), torch.cat(qs)


def check_invariant(pred0: torch.Tensor, pred1: torch.Tensor, y: torch.Tensor, what: str) -> None:
    """SPEC §4: no prediction changes, so accuracy is exactly unchanged; else fail loudly."""
    changed = int((pred1 != pred0).sum())
    if changed:
        raise AdvlabError(f"{what} changed {changed} of {len(y)} predictions: the label-preserving invariant is broken")
    acc0, acc1 = float((pred0 == y).double().mean()), float((pred1 == y).double().mean())
    if acc0 != acc1:
        raise AdvlabError(f"{what} changed the accuracy: {acc0} -> {acc1}")


def _modes(run) -> list[str]:
    return [m for m in MODES if (m != "black" or run.black_box) and (m != "iterative" or run.iterative_steps > 0)]


def _eval_set(p, ds, plan):
    idx = np.asarray(plan["attack_eval"])[: p.uncertainty.run.eval_size]
    x, y = to_tensors(ds, idx)
    return idx, x, y


def member(name: str) -> None:
    """Stage ``ace_member@<name>``: one ensemble member's softmax metrics and checkpoint hash."""
    p = load_params()
    u = _section(p)
    require(name, u.ensemble, "uncertainty.ensemble")
    device = resolve_device(p.device)
    ds, plan = load_prepared()
    idx, x, y = _eval_set(p, ds, plan)
    model = _load(name, device, plan)
    pred, conf = predict(build_estimator("softmax", [model], [name]), x, u.run.batch_size, device)
    metrics = selective_summary(conf.numpy(), (pred == y).numpy(), u.run.coverages)
    write_json(RESULTS / "members" / f"{name}.json",
               {"model": name, "checkpoint_sha256": _file_hash(Path("models") / name / WEIGHTS),
                "n": len(y), **metrics})
    print(f"ensemble member {name}: accuracy {metrics['accuracy']:.4f}, AUROC {metrics['auroc']:.4f}")


def _section(p):
    return family(p, "uncertainty")


def run_case(kind: str, names: list[str]) -> dict:
    """Attack one estimator over the ε sweep; writes the case's outputs and returns its metrics."""
    t_stage = time.perf_counter()
    p = load_params()
    u, run = _section(p), _section(p).run
    device = resolve_device(p.device)
    torch.manual_seed(p.seed)
    ds, plan = load_prepared()
    idx, x, y = _eval_set(p, ds, plan)
    models = [_load(n, device, plan) for n in names]
    if kind == "ensemble":
        for n in names:  # the members' link files must describe the checkpoints loaded here
            f = RESULTS / "members" / f"{n}.json"
            if not f.is_file() or read_json(f).get("checkpoint_sha256") != _file_hash(Path("models") / n / WEIGHTS):
                raise AdvlabError(f"{f} is missing or describes another checkpoint of models/{n}; "
                                  f"run `dvc repro ace_member@{n}`")
    est = build_estimator(kind, models, names, T=u.mc_dropout_T, seed=p.seed).to(device).eval()
    proxy = _load(u.proxy, device, plan) if run.black_box else None
    case = kind if kind == "ensemble" else f"{kind}_{names[0]}"

    t0 = time.perf_counter()
    pred0, conf0 = predict(est, x, run.batch_size, device)
    infer_s = time.perf_counter() - t0
    correct = (pred0 == y).numpy()
    clean = selective_summary(conf0.numpy(), correct, run.coverages)
    modes = _modes(run)
    confs = np.full((len(modes), len(run.eps), len(y)), np.nan)
    rows, curves = [], []
    cov, risk = risk_coverage_curve(conf0.numpy(), correct)
    curves.append(pd.DataFrame({"condition": "clean", "mode": "clean", "eps": 0.0, "coverage": cov, "risk": risk}))
    adv_images: dict[tuple[int, int], torch.Tensor] = {}
    for mi, mode in enumerate(modes):
        for ei, eps in enumerate(run.eps):
            t0 = time.perf_counter()
            xa, queries = attack(est, x, y, mode, eps, run, proxy, p.seed, device)
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
    sweep = pd.DataFrame(rows)

    def best(mode: str) -> dict:
        s = sweep[sweep["mode"] == mode]
        if s.empty or s["auroc"].isna().all():
            return {}
        r = s.loc[s["auroc"].idxmin()]
        return {"eps_at_min_auroc": float(r["eps"]), "min_auroc": float(r["auroc"]),
                "max_auroc_drop": float(s["auroc_drop"].max()), "max_aurc_ratio": float(s["aurc_ratio"].max()),
                "aurc_ratio_at_min_auroc": float(r["aurc_ratio"]), "samples_per_s": float(s["samples_per_s"].mean())}

    summary = {mode: best(mode) for mode in modes}
    gallery = _gallery(x, y, pred0, conf0, confs, adv_images, modes, run, sweep)
    out = {
        "case": case, "estimator": kind, "models": names, "proxy": u.proxy if run.black_box else None,
        "T": u.mc_dropout_T if kind == "mc_dropout" else None, "n": len(y), "eps": run.eps,
        "coverages": run.coverages, "clean": clean, "summary": summary, "sweep": rows,
        "samples_per_s": {"inference": len(y) / infer_s,
                          **{f"attack_{mode}": summary[mode].get("samples_per_s") for mode in modes}},
        "accuracy_unchanged": True, "gallery": {k: v for k, v in gallery.items() if k == "eps" or k == "pairs_inverted"},
        "device": str(device), "threads": torch.get_num_threads(),
    }
    if kind == "ensemble":
        out["members"] = {n: read_json(RESULTS / "members" / f"{n}.json") for n in names}
    out["stage_seconds"] = time.perf_counter() - t_stage
    write_csv(RESULTS / "ace" / f"{case}_sweep.csv", sweep)
    write_csv(RESULTS / "ace" / f"{case}_rc.csv", pd.concat(curves, ignore_index=True))
    write_npz(RESULTS / "ace" / f"{case}.npz", index=idx, y=y.numpy(), pred=pred0.numpy(),
              conf_clean=conf0.numpy(), conf_adv=confs, modes=np.array(modes), eps=np.array(run.eps),
              **{f"gallery_{k}": v for k, v in gallery.items() if isinstance(v, np.ndarray)})
    write_json(RESULTS / "ace" / f"{case}.json", out)
    w = summary.get("white", {})
    print(f"{case}: clean AUROC {clean['auroc']:.3f}, AURC {clean['aurc']:.4f}; white-box min AUROC "
          f"{w.get('min_auroc', float('nan')):.3f} at ε={w.get('eps_at_min_auroc')}, max AURC ×"
          f"{w.get('max_aurc_ratio', float('nan')):.2f}; black-box max AUROC drop "
          f"{summary.get('black', {}).get('max_auroc_drop', float('nan')):.3f}; "
          f"{out['samples_per_s']['inference']:.0f} samples/s inference; {out['stage_seconds']:.1f} s")
    return out


def _gallery(x, y, pred0, conf0, confs, adv_images, modes, run, sweep) -> dict:
    """Wrong predictions made most confident and right ones made least confident by white-box
    ACE at the ε where its AUROC is lowest (the report's gallery)."""
    k = run.gallery
    white = sweep[sweep["mode"] == "white"]
    if k == 0 or white.empty or white["auroc"].isna().all():
        return {}
    ei = int(white["auroc"].values.argmin())
    mi = modes.index("white")
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


@stage
def main(kind: str, name: str | None = None) -> None:
    if kind == "member":
        if name is None:
            raise AdvlabError("usage: python -m advlab.stages.uncertainty member <model>")
        return member(name)
    p = load_params()
    u = _section(p)
    lists = {"softmax": u.softmax, "mc_dropout": u.mc_dropout, "selectivenet": u.selectivenet}
    if kind == "ensemble":
        run_case("ensemble", list(u.ensemble))
        return
    if kind not in lists:
        raise AdvlabError(f"uncertainty: estimator {kind!r} is unknown; choose softmax, mc_dropout, "
                          f"selectivenet, ensemble or member")
    require(name, lists[kind], f"uncertainty.{kind}")
    run_case(kind, [name])


if __name__ == "__main__":
    sys.exit(main())
