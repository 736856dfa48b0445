"""Each family's headline numbers: a handful of numeric keys, versioned in git as ``metrics/<family>.json``.

These are what ``dvc metrics show``, ``dvc metrics diff`` and ``dvc exp show`` compare between runs,
so they are few, numeric, and named by role rather than by model (the per-model, per-attack details
stay in ``results/<family>/`` and in the report's tables). Every function reads only the family's
result files, the same ones its report reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from advlab.errors import AdvlabError
from advlab.registry import Registry

HEADLINES = Registry("headline")


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise AdvlabError(f"headline: {path} is not valid JSON ({err}); rerun the stage that writes it") from None


def _each(paths: dict) -> dict:
    """The results of the names in params whose file exists (a report names the missing ones; under
    ``dvc repro`` every one exists), read."""
    return {name: _read(path) for name, path in paths.items() if path.is_file()}


def _r(x) -> float | None:
    return None if x is None else round(float(x), 6)


@HEADLINES.register("models")
def models(results: Path, p) -> dict:
    """The baseline model (the first under ``models:``) and the spread over all models."""
    evals = _each({m: results / "evaluate" / f"{m}.json" for m in p.models})
    if not evals:
        return {}
    base = evals.get(next(iter(p.models)), {})
    return {"baseline_accuracy": _r(base.get("accuracy")), "baseline_ece": _r(base.get("ece")),
            "min_accuracy": _r(min(e["accuracy"] for e in evals.values())),
            "max_accuracy": _r(max(e["accuracy"] for e in evals.values())),
            "max_ece": _r(max(e["ece"] for e in evals.values()))}


def _pgd(attacks: dict) -> dict | None:
    """The model's L∞ PGD entry (PGD-40 where it ran)."""
    pgd = {k: v for k, v in attacks.items() if v["attack"] == "pgd" and v["norm"] == "linf"}
    return pgd.get("pgd40") or next(iter(pgd.values()), None)


@HEADLINES.register("evasion")
def evasion(results: Path, p) -> dict:
    """Undefended model (the first of ``evasion.models``) under PGD, the best adversarially trained one,
    the best input-transformation defense under its adaptive attack, certification, poisoning, detection."""
    ev = p.evasion
    runs = {m: r["attacks"] for m, r in _each({m: results / "attacks" / f"{m}.json" for m in ev.models}).items()}
    if ev.models[0] not in runs:
        return {}
    base = runs[ev.models[0]]
    out = {"clean_accuracy": _r(next(iter(base.values()))["clean_accuracy"])}
    if (pgd := _pgd(base)) is not None:
        out["pgd_robust_accuracy"] = _r(pgd["robust_accuracy"])
    robust = [s["robust_accuracy"] for m in ev.models[1:] if m in runs and (s := _pgd(runs[m])) is not None]
    if robust:
        out["best_pgd_robust_accuracy_defended"] = _r(max(robust))
    out["min_robust_accuracy_any_attack"] = _r(min(s["robust_accuracy"] for s in base.values()))
    defenses = list(_each({d: results / "defenses" / f"{d}.json" for d in ev.defenses}).values())
    if defenses:
        out["best_adaptive_accuracy_transform"] = _r(max(
            d["adaptive"].get("robust_accuracy_mean_over_draws", d["adaptive"]["robust_accuracy"]) for d in defenses))
    certified = [c["certified_accuracy"] for c in _each({m: results / "certify" / f"{m}.json" for m in ev.certify.models}).values()]
    if certified:
        out["best_certified_accuracy_at_0_5"] = _r(max(c["0.5"] for c in certified))
    backdoor = results / "poisoning" / "backdoor.json"
    if backdoor.is_file():
        rates = [r["attack_success_rate"] for r in _read(backdoor)["rows"] if r["rate"] > 0]
        if rates:
            out["backdoor_max_attack_success_rate"] = _r(max(rates))
    detection = results / "detection.json"
    if detection.is_file() and (aurocs := list(_read(detection)["auroc"].values())):
        out["detection_mean_auroc"] = _r(sum(aurocs) / len(aurocs))
    return out


@HEADLINES.register("calibration")
def calibration(results: Path, p) -> dict:
    """The first attacked model: clean ECE, the worst ECE a calibration attack reaches, their largest
    prediction change (they must keep it 0), detection; the best defense's worst-case ECE."""
    c = p.calibration
    first = results / "attack" / f"{c.models[0]}.json"
    if not first.is_file():
        return {}
    attacks = _read(first)["attacks"]
    base = {k: r for k, r in attacks.items() if r["kind"] == "calibration"}  # not the standard attacks beside them
    out = {"ece_clean": _r(next(iter(base.values()))["ece_clean"]),
           "worst_ece_attacked": _r(max(r["ece_adv"] for r in base.values())),
           "max_prediction_changed_rate": _r(max(r["prediction_changed_rate"] for r in base.values()))}
    aurocs = [a for r in base.values() for a in r.get("detection_auroc", {}).values()]
    if aurocs:
        out["detection_mean_auroc"] = _r(sum(aurocs) / len(aurocs))
    targets = list(_each({t: results / "targets" / f"{t}.json" for t in c.targets}).values())
    defended = [max(r["ece_adv"] for r in t["attacks"].values()) for t in targets if t["role"] == "defense"]
    if defended:
        out["best_defense_worst_ece"] = _r(min(defended))
    return out


@HEADLINES.register("uncertainty")
def uncertainty(results: Path, p) -> dict:
    """Clean AUROC of the first case, and over all cases the lowest AUROC ACE reaches and the largest
    AURC ratio (attacked / clean)."""
    runs = list(_each({case: results / "ace" / f"{case}.json" for case in p.uncertainty.cases}).values())
    summaries = [s for r in runs for s in r["summary"].values() if s]
    out = {"auroc_clean": _r(runs[0]["clean"]["auroc"])} if runs else {}
    if summaries:
        out |= {"min_auroc_attacked": _r(min(s["min_auroc"] for s in summaries)),
                "max_auroc_drop": _r(max(s["max_auroc_drop"] for s in summaries)),
                "max_aurc_ratio": _r(max(s["max_aurc_ratio"] for s in summaries))}
    return out


@HEADLINES.register("membership")
def membership(results: Path, p) -> dict:
    """The baseline target: the strongest attack's AUC and TPR at 0.1 % and 1 % FPR (each maximised
    separately over attacks), and the same AUC on the most private (DP) target where there is one."""
    runs = _each({v: results / "attack" / f"{v}.json" for v in p.membership.targets})
    if not runs:
        return {}
    base = next((r for r in runs.values() if r["role"] == "baseline"), next(iter(runs.values())))
    attacks = base["attacks"].values()
    out = {"best_auc": _r(max(a["auc"] for a in attacks))}
    for key, label in (("0.001", "0.1pct"), ("0.01", "1pct")):
        vals = [a["tpr_at_fpr"][key] for a in attacks if key in a["tpr_at_fpr"]]
        if vals:
            out[f"best_tpr_at_{label}_fpr"] = _r(max(vals))
    private = [r for r in runs.values() if "privacy" in r["target"]]
    if private:
        out["best_auc_dp_target"] = _r(min(max(a["auc"] for a in r["attacks"].values()) for r in private))
    return out


def headline(family: str, p, results_root: Path = Path("results")) -> dict:
    """``metrics/<family>.json``'s content: numbers only (a key whose result is absent is left out)."""
    numbers = HEADLINES.get(family)(results_root / family, p)
    return {k: v for k, v in numbers.items() if v is not None}
