"""The evasion family's study (SPEC §2): what the ``evasion*`` stages ask for, as library
calls on the checked params (``p``, whose ``evasion`` section is set) that return results;
the stages only read params, call one function here and write its outputs.

* :func:`attack_model`: every attack of ``evasion.attacks`` on one trained model, plus the
  PGD ε sweep (:func:`component_table`: AutoAttack's per-component breakdown);
* :func:`defense_eval`: an input-transform defense attacked naively and adaptively;
* :func:`certify_model`: randomized smoothing CERTIFY of a noise-trained model;
* :func:`detect`: detection AUROC of the detectors against the attacks' examples.

Every attack goes through :func:`advlab.attacks.run_attack` with ``batch_size`` (the one
batching rule: chunk ``b`` uses seed ``seed + b``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from advlab.attacks import run_attack
from advlab.attacks.autoattack import breakdown
from advlab.data.prepared import load_prepared, to_tensors
from advlab.defenses.detection_eval import evaluate_detectors
from advlab.defenses.smoothing import ABSTAIN, certify
from advlab.defenses.transforms import naive_and_adaptive
from advlab.errors import AdvlabError
from advlab.metrics.robustness import certified_accuracy, certified_accuracy_curve
from advlab.models.checkpoint import load_trained
from advlab.progress import progress
from advlab.training.loop import predict_proba

#: the radii of the certified-accuracy table
REPORT_RADII = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5]


def trained(name: str, plan, device) -> nn.Module:
    """``models/<name>``, checked against the current split plan, in eval mode."""
    folder = Path("models") / name
    if not (folder / "model.json").is_file():
        raise AdvlabError(f"{folder} is missing: run `dvc repro train@{name}` first")
    return load_trained(name, plan.hash, device)[0]


def eval_subset(n: int):
    """The first ``n`` examples of the plan's attack-evaluation subset: ``(ds, plan, x, y)``."""
    ds, plan = load_prepared()
    idx = plan["attack_eval"][:n]
    x, y = to_tensors(ds, idx)
    return ds, plan, x, y


def accuracy(model, x, y, device) -> float:
    return float((predict_proba(model, x, device=device).argmax(1) == y).float().mean())


def run_attacks(name: str, ev, plan, x, y, device, seed: int, log=print):
    """Run the configured attacks on model ``name``; returns ``(model, summaries, arrays)``."""
    model = trained(name, plan, device)
    summaries = {}
    arrays = {"x": x.numpy(), "y": y.numpy(), "clean_pred": predict_proba(model, x, device=device).argmax(1).numpy()}
    todo = [(aname, a) for aname, a in ev.attacks.items() if a.models is None or name in a.models]
    bar = progress(todo, desc=f"evasion@{name}", unit="attack")
    for aname, a in bar:
        bar.set_postfix_str(aname)
        n = min(len(x), a.n or len(x))
        params = {**a.params, "eps": a.eps, "norm": a.norm}
        if a.attack == "transfer":
            params["surrogate"] = trained(ev.surrogate, plan, device)
        t0 = time.perf_counter()
        res = run_attack(a.attack, model, x[:n], y[:n], batch_size=ev.batch_size, device=device, seed=seed, **params)
        dt = time.perf_counter() - t0
        s = res.summary()
        s.update({"attack": a.attack, "eps": a.eps, "norm": a.norm, "surrogate": ev.surrogate if a.attack == "transfer" else None,
                  "seconds": dt, "samples_per_s": n / dt})
        summaries[aname] = s
        arrays[f"{aname}_x_adv"] = res.x_adv.numpy()
        arrays[f"{aname}_adv_pred"] = res.adv_pred.numpy()
        arrays[f"{aname}_success"] = res.success.numpy()
        if "component" in res.extras:  # a composite attack (AutoAttack): which component broke each sample
            s["components"] = breakdown(res.extras["component"], res.params["components"])
            arrays[f"{aname}_component"] = res.extras["component"].numpy()
        log(f"{name} {aname}: robust accuracy {s['robust_accuracy']:.3f} (clean {s['clean_accuracy']:.3f}), "
            f"success {s['success_rate']:.3f}, median queries {s['queries_median_success']:.0f}, "
            f"{n} samples in {dt:.1f} s")
    return model, summaries, arrays


def component_table(summary: dict) -> pd.DataFrame:
    """Per-component breakdown of the composite attacks of one ``attack_model`` summary: one row
    per (attack, outcome) with ``outcome`` ``clean_error``, a component name (the samples it
    broke first) or ``robust``; ``count`` and ``fraction`` of the attack's ``n`` samples."""
    rows = [{"model": summary["model"], "attack": a, "outcome": k, "count": c, "fraction": c / s["n"]}
            for a, s in summary["attacks"].items() for k, c in s.get("components", {}).items()]
    return pd.DataFrame(rows, columns=["model", "attack", "outcome", "count", "fraction"])


def eps_sweep(model, ev, x, y, device, seed: int) -> pd.DataFrame:
    """Robust accuracy against ε (PGD, L∞, ``evasion.sweep_steps`` steps)."""
    rows = []
    for eps in progress(ev.sweep_eps, desc="robust accuracy vs ε", unit="ε"):
        res = run_attack("pgd", model, x, y, batch_size=ev.batch_size, device=device, seed=seed, eps=eps, norm="linf",
                         steps=ev.sweep_steps)
        s = res.summary()
        rows.append({"eps": eps, "robust_accuracy": s["robust_accuracy"], "clean_accuracy": s["clean_accuracy"]})
    return pd.DataFrame(rows)


def attack_model(p, name: str, device, log=print) -> tuple[dict, pd.DataFrame, dict]:
    """``evasion@<name>``: ``(summary, sweep, arrays)``: one summary per attack, the ε sweep
    and the arrays (clean inputs, adversarial inputs, predictions, success per attack)."""
    ev = p.evasion
    _, plan, x, y = eval_subset(ev.n_eval)
    model, summaries, arrays = run_attacks(name, ev, plan, x, y, device, p.seed, log=log)
    sweep = eps_sweep(model, ev, x, y, device, p.seed)
    sweep.insert(0, "model", name)
    return {"model": name, "n_eval": len(x), "attacks": summaries}, sweep, arrays


def defense_eval(p, defense: str, device) -> dict:
    """``evasion_defense@<defense>``: clean accuracy, and PGD robust accuracy of the
    undefended model, of the defense under the naive attack and under the adaptive one
    (BPDA for squeezers, EOT for randomized transforms), all on the real forward pass."""
    ev = p.evasion
    d = ev.defenses[defense]
    _, plan, x, y = eval_subset(min(ev.n_eval, ev.defense_n))
    model = trained(ev.defense_model, plan, device)
    naive_t, adaptive_t, randomized = naive_and_adaptive(d.kind, d.options, seed=p.seed)
    common = {"eps": ev.defense_eps, "norm": "linf", "steps": ev.defense_steps}
    out = {"defense": defense, "kind": d.kind, "options": d.options, "model": ev.defense_model, "n": len(x),
           "eps": ev.defense_eps, "steps": ev.defense_steps, "gradient_masking": not randomized,
           "adaptive_method": "eot" if randomized else "bpda"}
    out["clean_accuracy_undefended"] = accuracy(model, x, y, device)
    out["clean_accuracy_defended"] = accuracy(nn.Sequential(naive_t, model), x, y, device)
    runs = {"undefended": (model, {}),
            "naive": (nn.Sequential(naive_t, model), {}),
            "adaptive": (nn.Sequential(adaptive_t, model), {"eot_samples": ev.eot_samples} if randomized else {})}
    for label, (target, extra) in progress(runs.items(), desc=f"evasion_defense@{defense}", unit="attack"):
        t1 = time.perf_counter()
        res = run_attack("pgd", target, x, y, batch_size=ev.batch_size, device=device, seed=p.seed, **common, **extra)
        s = res.summary()
        out[label] = {"robust_accuracy": s["robust_accuracy"], "success_rate": s["success_rate"],
                      "clean_accuracy": s["clean_accuracy"], "linf_max": s["linf_max"],
                      "seconds": time.perf_counter() - t1}
        if randomized and label != "undefended":
            # one draw decides the engine's verdict; also report the mean over fresh draws
            accs = [accuracy(target, res.x_adv, y, device) for _ in range(ev.eot_samples)]
            out[label]["robust_accuracy_mean_over_draws"] = sum(accs) / len(accs)
    # a randomised defense is judged on the mean over fresh draws (one draw is noisy)
    key = "robust_accuracy_mean_over_draws" if randomized else "robust_accuracy"
    out["gap"] = out["naive"][key] - out["adaptive"][key]
    out["adaptive_beats_naive"] = out["adaptive"][key] < out["naive"][key]
    return out


def certify_model(p, name: str, device) -> tuple[dict, pd.DataFrame]:
    """``evasion_certify@<name>``: ``(metrics, curve)`` of randomized smoothing with the
    model's training sigma."""
    ev = p.evasion
    c = ev.certify
    sigma = float(p.models[name].train.objective_options.get("sigma", 0.25))  # the objective's default
    t0 = time.perf_counter()
    _, plan, x, y = eval_subset(min(ev.n_eval, c.n_eval))
    model = trained(name, plan, device)
    gen = torch.Generator(device=device).manual_seed(p.seed)
    pred, radius = certify(model, x, sigma, c.n0, c.n, c.alpha, batch_size=c.batch_size, generator=gen)
    grid, acc = certified_accuracy_curve(pred, radius, y, max_radius=c.max_radius, num=81)
    base_acc = accuracy(model, x, y, device)
    dt = time.perf_counter() - t0
    metrics = {"model": name, "sigma": sigma, "n_eval": len(x), "n0": c.n0, "n": c.n, "alpha": c.alpha,
               "base_clean_accuracy": base_acc,
               "abstain_rate": float((pred == ABSTAIN).float().mean()),
               "certified_accuracy": {str(r): float(certified_accuracy(pred, radius, y, r)) for r in REPORT_RADII},
               "mean_radius_correct": float(np.mean(radius.numpy()[(pred == y).numpy()])) if (pred == y).any() else 0.0,
               "seconds": dt, "samples_per_s": len(x) / dt}
    return metrics, pd.DataFrame({"model": name, "sigma": sigma, "radius": grid, "certified_accuracy": acc})


def detect(p, arrays: dict, device) -> list[dict]:
    """``evasion_detect``: detection AUROC of ``evasion.detection.detectors`` against the
    *successful* adversarial inputs of each attack in ``arrays`` (the ``evasion@<model>``
    arrays of ``evasion.detection.model``); negatives are the clean inputs, detectors are
    fitted on clean validation data. One row per (detector, attack) (see
    :func:`~advlab.defenses.detection_eval.evaluate_detectors`)."""
    d = p.evasion.detection
    ds, plan = load_prepared()
    model = trained(d.model, plan, device)
    x_fit, y_fit = to_tensors(ds, plan["validation"][: d.fit_size])
    x_clean = torch.from_numpy(arrays["x"])
    adversarial, masks = {}, {}
    for a in d.attacks:
        if f"{a}_x_adv" not in arrays:
            raise AdvlabError(f"evasion.detection.attacks: {a!r} was not run on {d.model} (see evasion.attacks.{a}.models)")
        adversarial[a] = torch.from_numpy(arrays[f"{a}_x_adv"])
        masks[a] = torch.from_numpy(arrays[f"{a}_success"])
    return evaluate_detectors(model, x_fit.to(device), y_fit, x_clean.to(device),
                              {k: v.to(device) for k, v in adversarial.items()}, d.detectors, masks,
                              squeeze_bits=d.squeeze_bits, lid_k=d.lid_k, seed=p.seed)
