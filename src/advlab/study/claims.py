"""SPEC §6's claims, one table per family, each figure with its bootstrap interval.

A claims function reads only its family's ``results/<family>/`` (the per-example arrays the
stages save) and returns rows ``{claim, figure, verdict}``: the claim as SPEC words it, the
measured figure as ``value [lo, hi]`` (a seeded percentile bootstrap over the evaluation
examples, :mod:`advlab.metrics.bootstrap`), and ``holds`` / ``does not hold`` /
``inconclusive at this sample size`` (a claim holds only when its whole interval supports it).
The thresholds that turn SPEC's words ("near 0", "many times") into numbers are stated in
each row. Interval tables for the families' main numbers come from the same helpers.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from advlab.metrics.bootstrap import (CONFIDENCE, INCONCLUSIVE, N_RESAMPLES, Interval, bootstrap, bootstrap_many,
                                      bootstrap_weighted, verdict)
from advlab.metrics.calibration import confidence_and_correct, ece_from_confidence
from advlab.metrics.roc import weighted_roc
from advlab.metrics.selective import aurc, optimal_aurc, uncertainty_auroc
from advlab.registry import Registry

CLAIMS = Registry("claims")


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def proportion(value: float, n: int, **kw) -> Interval:
    """The interval of a proportion over ``n`` examples (an accuracy): the bootstrap of its 0/1
    indicators, which only the count of ones determines."""
    ones = int(round(value * n))
    return bootstrap(np.mean, np.r_[np.ones(ones), np.zeros(n - ones)], **kw)


def _saved(folder: Path, names, suffix: str):
    """``(name, arrays)`` for each name whose ``folder/<name><suffix>`` was saved."""
    for name in names:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            yield name, np.load(path)


def _interval(value: float, lo: float, hi: float, kw: dict) -> Interval:
    """An interval read back from a table computed with the bootstrap settings ``kw``."""
    return Interval(value, lo, hi, kw.get("confidence", CONFIDENCE), kw.get("n_resamples", N_RESAMPLES))


def row(claim: str, interval: Interval | None, verdict_text: str, figure: str | None = None) -> dict:
    return {"claim": claim, "figure": figure if figure is not None else str(interval), "verdict": verdict_text}


# --- evasion -----------------------------------------------------------------------------------

def robust_accuracy(results: Path, model: str, attack: str, **kw) -> Interval | None:
    """Robust accuracy of ``model`` under ``attack`` over the examples the attack ran on."""
    path = results / "attacks" / f"{model}_adv.npz"
    if not path.is_file():
        return None
    z = np.load(path)
    if f"{attack}_adv_pred" not in z:
        return None
    pred = z[f"{attack}_adv_pred"]
    return bootstrap(np.mean, (pred == z["y"][: len(pred)]).astype(float), **kw)


@functools.lru_cache(maxsize=8)
def evasion_intervals(results: Path, models: tuple, **kw) -> pd.DataFrame:
    """Robust accuracy with its interval for every (model, attack) that ran (cached like the other
    families' tables: the report's figures and its final table share one computation; do not
    modify the frame returned)."""
    rows = []
    for model in models:
        path = results / "attacks" / f"{model}.json"
        if not path.is_file():
            continue
        for attack, s in _json(path)["attacks"].items():
            iv = robust_accuracy(results, model, attack, **kw)
            if iv is not None:
                rows.append({"model": model, "attack": attack, "robust_accuracy": iv.value, "lo": iv.lo, "hi": iv.hi,
                             "n": int(s["n"])})
    return pd.DataFrame(rows)


@CLAIMS.register("evasion")
def evasion(results: Path, p, **kw) -> list[dict]:
    ev = p.evasion
    base, defended = ev.models[0], ev.models[1:]
    pgd = next((a for a, spec in ev.attacks.items() if spec.attack == "pgd"), None)
    rows = []
    if pgd is not None and (iv := robust_accuracy(results, base, pgd, **kw)) is not None:
        rows.append(row(f"{pgd} drives the undefended {base}'s accuracy near 0 (below 5 %) at ε = "
                        f"{ev.attacks[pgd].eps}", iv, verdict(iv, below=0.05), iv.percent()))
        clean = _json(results / "attacks" / f"{base}.json")["attacks"][pgd]["clean_accuracy"]
        best = max(((m, robust_accuracy(results, m, pgd, **kw)) for m in defended), key=lambda t: -1 if t[1] is None
                   else t[1].value, default=(None, None))
        if best[1] is not None:
            rows.append(row(f"adversarial training restores much of it: {best[0]} keeps at least half of the undefended "
                            f"clean accuracy ({clean:.1%}) under {pgd}", best[1], verdict(best[1], above=clean / 2),
                            best[1].percent()))
    certified = []
    for m in ev.certify.models if ev.certify else []:
        path = results / "certify" / f"{m}.json"
        if path.is_file():
            c = _json(path)
            radius, acc = "0.5", c["certified_accuracy"].get("0.5")
            if acc is not None:
                certified.append((m, proportion(acc, int(c["n_eval"]), **kw)))
    if certified:
        m, iv = max(certified, key=lambda t: t[1].value)
        rows.append(row(f"randomized smoothing gives certified accuracy: {m} certifies more than 0 at L2 radius 0.5",
                        iv, verdict(iv, above=0.0), iv.percent()))
    return rows


# --- membership --------------------------------------------------------------------------------

def _scores(results: Path, variant: str) -> dict | None:
    path = results / "attack" / f"{variant}_scores.npz"
    return dict(np.load(path)) if path.is_file() else None


def _curve_stats(curve, weights, fprs) -> list[float]:
    """AUC and TPR at each FPR of ``curve(weights)`` (what :func:`auc` and :func:`tpr_at_fpr` compute)."""
    f, t = curve(weights)
    return [float(np.trapezoid(t, f)), *(_tpr(f, t, x) for x in fprs)]


def _tpr(f: np.ndarray, t: np.ndarray, fpr: float) -> float:
    return float(t[f <= fpr].max())


@functools.lru_cache(maxsize=32)
def membership_intervals(results: Path, variant: str, fprs=(0.001, 0.01), **kw) -> pd.DataFrame:
    """AUC and TPR at each FPR with intervals for every attack on ``variant`` (members and
    non-members resampled separately)."""
    z = _scores(results, variant)
    if z is None:
        return pd.DataFrame()
    members = z["members"].astype(bool)
    rows = []
    for key in sorted(k for k in z if k.startswith("score_")):
        entry = {"attack": key.removeprefix("score_")}
        curve = weighted_roc(z[key], members)  # sorted once; each resample reweights it
        ivs = bootstrap_weighted(lambda w, *_: _curve_stats(curve, w, fprs), z[key], members, strata=members, **kw)
        for name, iv in zip(["AUC", *(f"TPR@{f:g}" for f in fprs)], ivs):
            entry.update({name: iv.value, f"{name} lo": iv.lo, f"{name} hi": iv.hi})
        entry["non-members"] = int((~members).sum())
        rows.append(entry)
    return pd.DataFrame(rows).set_index("attack")


@CLAIMS.register("membership")
def membership(results: Path, p, fpr: float = 0.01, **kw) -> list[dict]:
    m = p.membership
    base = next(iter(m.targets))
    z = _scores(results, base)
    rows = []
    if z is None:
        return rows
    members = z["members"].astype(bool)
    weak = [a for a in ("loss", "ml_leaks", "watson") if f"score_{a}" in z]
    if "score_ldc_mia" in z and weak:
        ldc, others = weighted_roc(z["score_ldc_mia"], members), [weighted_roc(z[f"score_{a}"], members) for a in weak]

        def margin(w, *_):
            return [_tpr(*ldc(w), fpr) - max(_tpr(*o(w), fpr) for o in others)]

        (iv,) = bootstrap_weighted(margin, members, strata=members, **kw)
        rows.append(row(f"LDC-MIA beats {', '.join(weak)} at low FPR: its TPR at {fpr:.0%} FPR minus the best of them "
                        f"(points) is above 0", iv, verdict(iv, above=0.0),
                        f"{100 * iv.value:+.1f} [{100 * iv.lo:+.1f}, {100 * iv.hi:+.1f}]"))
    if "score_ldc_mia" in z and "score_lira_online" in z:
        lira, ldc = weighted_roc(z["score_lira_online"], members), weighted_roc(z["score_ldc_mia"], members)
        (iv,) = bootstrap_weighted(lambda w, *_: [_tpr(*lira(w), fpr) - _tpr(*ldc(w), fpr)], members, strata=members,
                                   **kw)
        info = _json(results / "attack" / f"{base}.json")["attacks"]
        cost = {a: info[a]["cost"]["models_trained"] for a in ("lira_online", "ldc_mia") if a in info}
        rows.append(row(f"LDC-MIA comes close to LiRA online: LiRA's TPR at {fpr:.0%} FPR exceeds LDC-MIA's by less than "
                        f"5 points (LiRA trains {cost.get('lira_online', '?')} models, LDC-MIA "
                        f"{cost.get('ldc_mia', '?')})", iv, verdict(iv, below=0.05),
                        f"{100 * iv.value:+.1f} [{100 * iv.lo:+.1f}, {100 * iv.hi:+.1f}]"))
    for variant, t in m.targets.items():
        if getattr(t, "dp", None) is None or (zd := _scores(results, variant)) is None:
            continue
        t = membership_intervals(results, variant, **kw)
        ivs = {a: _interval(r["AUC"], r["AUC lo"], r["AUC hi"], kw) for a, r in t.iterrows()}
        worst = max(ivs, key=lambda a: abs(ivs[a].value - 0.5))
        near = at_chance(t)
        far = any(iv.lo >= CHANCE[1] or iv.hi <= CHANCE[0] for iv in ivs.values())
        rows.append(row(f"DP-SGD ({variant}) pulls every attack toward chance: every AUC interval inside {CHANCE}; "
                        f"farthest from 0.5: {worst}", ivs[worst],
                        "holds" if near else ("does not hold" if far else INCONCLUSIVE)))
    if rows and at_chance(membership_intervals(results, base, **kw)):
        for r in rows:  # nothing leaks to compare or to pull toward chance: no verdict either way
            r["verdict"] = (f"{NOT_TESTABLE} (the undefended baseline '{base}' is at chance too: every attack's AUC "
                            f"interval inside {CHANCE})")
    return rows


#: a membership claim's verdict when the undefended baseline leaks nothing measurable
NOT_TESTABLE = "not testable"
CHANCE = (0.45, 0.55)


def at_chance(t: pd.DataFrame) -> bool:
    """Every attack's AUC interval lies inside :data:`CHANCE` (the DP claim's own band)."""
    return not t.empty and bool(((t["AUC lo"] > CHANCE[0]) & (t["AUC hi"] < CHANCE[1])).all())


# --- uncertainty -------------------------------------------------------------------------------

def _selective(conf, correct) -> list[float]:
    """Uncertainty AUROC, AURC and E-AURC (:mod:`advlab.metrics.selective`; E-AURC as
    :func:`~advlab.metrics.selective.e_aurc` computes it, without sorting twice)."""
    area = aurc(conf, correct)
    return [uncertainty_auroc(conf, correct), area, area - optimal_aurc(1.0 - correct.mean())]


SELECTIVE = ("AUROC", "AURC", "E-AURC")


@functools.lru_cache(maxsize=8)
def uncertainty_intervals(results: Path, cases: tuple, **kw) -> pd.DataFrame:
    """Clean uncertainty AUROC, AURC and E-AURC, and the same at the lowest attacked AUROC per mode
    (over ε), with intervals (the three paired on the same resamples). AUROC's interval keeps the
    columns ``lo`` and ``hi``; AURC's and E-AURC's are ``AURC lo`` … ``E-AURC hi``."""
    rows = []

    def entry(case: str, mode: str, eps: float, ivs) -> dict:
        auroc, *rest = ivs
        out = {"case": case, "mode": mode, "eps": eps, "AUROC": auroc.value, "lo": auroc.lo, "hi": auroc.hi}
        for name, iv in zip(SELECTIVE[1:], rest):
            out.update({name: iv.value, f"{name} lo": iv.lo, f"{name} hi": iv.hi})
        return out

    for case, z in _saved(results / "ace", cases, ".npz"):
        correct = (z["pred"] == z["y"]).astype(float)
        rows.append(entry(case, "clean", 0.0, bootstrap_many(_selective, z["conf_clean"], correct, **kw)))
        for mi, mode in enumerate(z["modes"]):
            aurocs = [uncertainty_auroc(z["conf_adv"][mi, ei], correct) for ei in range(len(z["eps"]))]
            ei = int(np.nanargmin(aurocs))
            rows.append(entry(case, str(mode), float(z["eps"][ei]),
                              bootstrap_many(_selective, z["conf_adv"][mi, ei], correct, **kw)))
    return pd.DataFrame(rows)


@CLAIMS.register("uncertainty")
def uncertainty(results: Path, p, **kw) -> list[dict]:
    table = uncertainty_intervals(results, tuple(p.uncertainty.cases), **kw)
    rows = []
    for mode, words in (("white", "white-box"), ("black", "black-box")):
        sub = table[table["mode"] == mode]
        for _, r in sub.iterrows():
            iv = _interval(r["AUROC"], r["lo"], r["hi"], kw)
            rows.append(row(f"ACE ({words}) drives the uncertainty AUROC of {r['case']} below 0.5 (ε = {r['eps']:g}), "
                            "accuracy unchanged", iv, verdict(iv, below=0.5)))
    return rows


# --- calibration -------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def calibration_intervals(results: Path, models: tuple, n_bins: int = 15, **kw) -> pd.DataFrame:
    """ECE before and after every attack, and their ratio, with intervals (paired resamples)."""
    rows = []
    for model, z in _saved(results / "attack", models, "_samples.npz"):
        y, conf0 = z["labels"], z["conf_clean"]
        correct = (z["pred_clean"] == y).astype(float)

        def eces(c0, k0, c1, k1):
            before, after = ece_from_confidence(c0, k0, n_bins), ece_from_confidence(c1, k1, n_bins)
            return [before, after, after / max(before, 1e-12)]

        for key in sorted({k.removesuffix("_conf") for k in z if k.endswith("_conf") and k != "conf_clean"}):
            adv_correct = (z[f"{key}_pred"] == y).astype(float)
            clean, after, ratio = bootstrap_many(eces, conf0, correct, z[f"{key}_conf"], adv_correct, **kw)
            rows.append({"model": model, "attack": key, "ECE": clean.value, "ECE lo": clean.lo, "ECE hi": clean.hi,
                         "ECE adv": after.value, "ECE adv lo": after.lo, "ECE adv hi": after.hi,
                         "ratio": ratio.value, "ratio lo": ratio.lo, "ratio hi": ratio.hi})
    return pd.DataFrame(rows)


STRONG_DEFENSES = ("caat", "compression_scaling")
WEAK_DEFENSES = ("temperature", "label_smoothing", "pgd_at")
_DEFENSE_CLAIM = ("CAAT and Compression Scaling blunt calibration attacks better than temperature scaling, label "
                  "smoothing or PGD-AT")


def _calibration_attacks(target: dict) -> list[str]:
    """A target's attack keys, the standard (misclassifying) ones left out."""
    return [k for k, a in target["attacks"].items() if a.get("kind", "calibration") != "standard"]


def _defense_claim(results: Path, names, n_bins: int, **kw) -> dict | None:
    """SPEC §6's defense claim: the lowest worst post-attack ECE of the weak defenses minus the
    highest of the strong ones (each target's worst over its calibration attacks), with a paired
    bootstrap over the evaluation inputs every target shares; point estimates when a target's
    ``_samples.npz`` is missing (results from before the targets saved them) or the targets' inputs
    differ. None when no strong or no weak target has results."""
    found = {t: _json(f) for t in names if (f := results / "targets" / f"{t}.json").is_file()}
    strong = [t for t in found if t in STRONG_DEFENSES]
    weak = [t for t in found if t in WEAK_DEFENSES]
    if not strong or not weak:
        return None
    keys = {t: _calibration_attacks(found[t]) for t in strong + weak}
    worst = {t: max(found[t]["attacks"][k]["ece_adv"] for k in keys[t]) for t in strong + weak}

    def point(why: str) -> dict:
        holds = max(worst[t] for t in strong) < min(worst[t] for t in weak)
        return row(f"{_DEFENSE_CLAIM} (worst post-attack ECE; {why}, so no interval)", None,
                   "holds (point estimates only)" if holds else "does not hold (point estimates only)",
                   "; ".join(f"{t} {worst[t]:.3f}" for t in strong + weak))

    samples = dict(_saved(results / "targets", strong + weak, "_samples.npz"))
    lacking = [t for t in strong + weak
               if t not in samples or any(f"{k}_{a}" not in samples[t] for k in keys[t] for a in ("conf", "pred"))]
    if lacking:
        return point(f"no per-example data for {', '.join(lacking)}: results from before the targets saved "
                     "_samples.npz")
    index = samples[strong[0]]["index"]
    if any(not np.array_equal(samples[t]["index"], index) for t in strong + weak):
        return point("the targets' per-example data cover different inputs (their index arrays differ): "
                     "no paired resampling")
    arrays = []
    for t in strong + weak:  # per attack of each target: its confidence and correctness, paired input by input
        z = samples[t]
        for k in keys[t]:
            arrays += [z[f"{k}_conf"], (z[f"{k}_pred"] == z["labels"]).astype(float)]
    counts = [len(keys[t]) for t in strong + weak]

    def worst_eces(*a) -> list[float]:
        """Each target's worst post-attack ECE (strong targets first)."""
        w, i = [], 0
        for n in counts:
            w.append(max(ece_from_confidence(a[j], a[j + 1], n_bins) for j in range(i, i + 2 * n, 2)))
            i += 2 * n
        return w

    def margin(*a) -> float:
        w = worst_eces(*a)
        return min(w[len(strong):]) - max(w[:len(strong)])

    iv = bootstrap(margin, *arrays, **kw)
    worst = dict(zip(strong + weak, worst_eces(*arrays)))  # the margin's own numbers (the JSONs' to rounding)
    return row(f"{_DEFENSE_CLAIM}: the lowest worst post-attack ECE of {', '.join(weak)} minus the highest of "
               f"{', '.join(strong)} (each target's worst over its calibration attacks; paired resamples of the "
               f"{len(index)} inputs every target shares) is above 0", iv, verdict(iv, above=0.0),
               f"{iv.value:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}]; worst ECE "
               + "; ".join(f"{t} {worst[t]:.3f}" for t in strong + weak))


@CLAIMS.register("calibration")
def calibration(results: Path, p, **kw) -> list[dict]:
    c = p.calibration
    table = calibration_intervals(results, tuple(c.models), p.evaluate.n_bins, **kw)
    rows = []
    for model in c.models:
        sub = table[(table["model"] == model) & table["attack"].str.startswith("maxmis")]
        if sub.empty:
            continue
        r = sub.loc[sub["ratio"].idxmin()]  # the weakest maximum-miscalibration search: the claim at its hardest
        iv = _interval(r["ratio"], r["ratio lo"], r["ratio hi"], kw)
        rows.append(row(f"maximum miscalibration multiplies {model}'s ECE many times (at least 5×; weakest search: "
                        f"{r['attack']}), accuracy unchanged", iv, verdict(iv, above=5.0),
                        f"{iv.value:.1f}× [{iv.lo:.1f}, {iv.hi:.1f}]"))
    for model in c.models:  # fewer queries than the standard Square Attack, input by input
        path = results / "attack" / f"{model}_samples.npz"
        z = np.load(path) if path.is_file() else {}
        if "standard_square_linf_queries" not in z or "maxmis_square_linf_queries" not in z:
            continue
        iv = bootstrap(lambda a, b: float(np.mean(a) - np.mean(b)), z["maxmis_square_linf_queries"],
                       z["standard_square_linf_queries"], **kw)
        rows.append(row(f"maximum miscalibration (Square L∞) needs fewer queries than the standard Square Attack on {model}: "
                        "mean queries per input, calibration minus standard, below 0", iv, verdict(iv, below=0.0),
                        f"{iv.value:+.1f} [{iv.lo:+.1f}, {iv.hi:+.1f}]"))
    defense = _defense_claim(results, c.targets, p.evaluate.n_bins, **kw)
    if defense is not None:
        rows.append(defense)
    return rows


# --- models ------------------------------------------------------------------------------------

def _accuracy_and_ece(conf: np.ndarray, correct: np.ndarray, n_bins: int):
    """``statistics(weights)`` for :func:`bootstrap_weighted`: accuracy and ECE of the weighted
    examples, both from one matrix-vector product. Column 0 is ``correct``; column ``1 + b`` is
    ``correct − conf`` on the examples in confidence bin ``b`` (the bins of
    :func:`advlab.metrics.calibration.reliability`), so a bin's weighted sum is its count times
    ``acc_b − conf_b`` and ECE is the sum of their absolute values over the total weight."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    columns = np.zeros((len(conf), 1 + n_bins))
    columns[:, 0] = correct
    columns[np.arange(len(conf)), 1 + bins] = correct - conf

    def statistics(weights, *_) -> list[float]:
        sums, total = weights @ columns, weights.sum()
        return [float(sums[0] / total), float(np.abs(sums[1:]).sum() / total)]

    return statistics


@functools.lru_cache(maxsize=8)
def models_intervals(results: Path, models: tuple, n_bins: int = 15, **kw) -> pd.DataFrame:
    """Test accuracy and ECE (``n_bins`` equal-width bins, as the evaluate stage computes it) with
    intervals (paired resamples of the test set) for every model whose
    ``evaluate/<model>_outputs.npz`` was saved. A statistic of multiplicities
    (:func:`bootstrap_weighted`: the resamples of :func:`bootstrap_many`, no 10,000-row copies)."""
    rows = []
    for model, z in _saved(results / "evaluate", models, "_outputs.npz"):
        conf, correct = confidence_and_correct(z["probs"], z["labels"])
        acc, ece = bootstrap_weighted(_accuracy_and_ece(conf, correct, n_bins), conf, correct, **kw)
        rows.append({"model": model, "accuracy": acc.value, "accuracy lo": acc.lo, "accuracy hi": acc.hi,
                     "ECE": ece.value, "ECE lo": ece.lo, "ECE hi": ece.hi, "n": len(correct)})
    return pd.DataFrame(rows)


def claims_table(family: str, results: Path, p, **kw) -> pd.DataFrame:
    """The family's claims as a table (empty when the family has none registered)."""
    if family not in CLAIMS.names():
        return pd.DataFrame(columns=["claim", "figure", "verdict"])
    return pd.DataFrame(CLAIMS.get(family)(Path(results), p, **kw), columns=["claim", "figure", "verdict"])


# --- what a report shows -----------------------------------------------------------------------

def _with_interval(df: pd.DataFrame, value: str, lo: str, hi: str, percent: bool) -> pd.Series:
    if percent:
        return df.apply(lambda r: f"{100 * r[value]:.1f} % [{100 * r[lo]:.1f}, {100 * r[hi]:.1f}]", axis=1)
    return df.apply(lambda r: f"{r[value]:.3g} [{r[lo]:.3g}, {r[hi]:.3g}]", axis=1)


def interval_table(family: str, results: Path, p, **kw) -> tuple[pd.DataFrame, str] | None:
    """The family's main numbers as ``value [lo, hi]`` strings, and a caption; None for a family
    without per-example results."""
    results = Path(results)
    if family == "evasion":
        t = evasion_intervals(results, tuple(p.evasion.models), **kw).copy()  # cached: never modified in place
        if t.empty:
            return None
        t["robust accuracy [95 % CI]"] = _with_interval(t, "robust_accuracy", "lo", "hi", True)
        shown = t.pivot(index="attack", columns="model", values="robust accuracy [95 % CI]").fillna("not run")
        return shown, "Robust accuracy per attack and model, with its interval (inputs: each attack's n)."
    if family == "membership":
        base = next(iter(p.membership.targets))
        t = membership_intervals(results, base, **kw)
        if t.empty:
            return None
        shown = pd.DataFrame({"AUC": _with_interval(t, "AUC", "AUC lo", "AUC hi", False),
                              "TPR at 0.1 % FPR": _with_interval(t, "TPR@0.001", "TPR@0.001 lo", "TPR@0.001 hi", True),
                              "TPR at 1 % FPR": _with_interval(t, "TPR@0.01", "TPR@0.01 lo", "TPR@0.01 hi", True),
                              "non-members": t["non-members"]}, index=t.index)
        info = results / "attack" / f"{base}.json"
        cost = {a: x["cost"] for a, x in (_json(info) if info.is_file() else {}).get("attacks", {}).items()}
        shown["models trained"] = [cost.get(a, {}).get("models_trained", "") for a in shown.index]
        shown["training (s)"] = [f"{cost[a]['training_seconds']:.0f}" if a in cost else "" for a in shown.index]
        return shown, (f"Every attack on the baseline target ({base}), with what the attacker trained; members and "
                       "non-members resampled separately.")
    if family == "uncertainty":
        t = uncertainty_intervals(results, tuple(p.uncertainty.cases), **kw)
        if t.empty:
            return None
        shown = pd.DataFrame({"case": t["case"], "condition": t["mode"], "ε": t["eps"],
                              "AUROC": _with_interval(t, "AUROC", "lo", "hi", False),
                              **{name: _with_interval(t, name, f"{name} lo", f"{name} hi", False)
                                 for name in SELECTIVE[1:]}}).set_index(["case", "condition"])
        return shown, ("Uncertainty AUROC (higher is better), AURC and E-AURC (lower is better), clean and at "
                       "each attack mode's lowest AUROC over the ε sweep; the three paired on the same resamples.")
    if family == "models":
        t = models_intervals(results, tuple(p.models), p.evaluate.n_bins, **kw)
        if t.empty:
            return None
        shown = pd.DataFrame({"model": t["model"],
                              "test accuracy": _with_interval(t, "accuracy", "accuracy lo", "accuracy hi", True),
                              f"ECE ({p.evaluate.n_bins} bins)": _with_interval(t, "ECE", "ECE lo", "ECE hi", False),
                              "n": t["n"]}).set_index("model")
        return shown, ("Test accuracy and ECE of every model, with their intervals (paired resamples of the test "
                       "set). A resample's ECE is biased upward (its bins' sampling noise adds to the gap), so a small "
                       "ECE can sit near the bottom of its interval.")
    if family == "calibration":
        t = calibration_intervals(results, tuple(p.calibration.models), p.evaluate.n_bins, **kw)
        if t.empty:
            return None
        shown = pd.DataFrame({"model": t["model"], "attack": t["attack"],
                              "ECE clean": _with_interval(t, "ECE", "ECE lo", "ECE hi", False),
                              "ECE attacked": _with_interval(t, "ECE adv", "ECE adv lo", "ECE adv hi", False),
                              "ECE ×": _with_interval(t, "ratio", "ratio lo", "ratio hi", False)}).set_index(["model", "attack"])
        return shown, "ECE before and after every attack and their ratio (paired resamples of the same inputs)."
    return None


def report(family: str, results, figures, p=None) -> list:
    """What a family's report shows at its end: its interval table and its claims table (as
    markdown and styled tables for ``display``); writes ``claims.csv`` and ``intervals.csv``
    beside the report's other tables (no ``claims.csv`` for a family with no claims registered:
    models)."""
    from IPython.display import Markdown

    from advlab.stages.common import load_params
    from advlab.study import present

    p = p if p is not None else load_params()
    kw = p.intervals.kwargs()
    iv = p.intervals
    out = [Markdown(f"## Intervals and claims\n\nEvery interval is a {iv.confidence:.0%} percentile bootstrap "
                    f"over the evaluation examples ({iv.resamples:,} seeded resamples; `intervals:` in params.yaml).")]
    found = interval_table(family, results, p, **kw)
    if found is not None:
        table, caption = found
        table.to_csv(Path(figures) / "intervals.csv")
        out += [Markdown(f"**{caption}**"), present.table(table)]
    if family not in CLAIMS.names():  # no claims.csv: an empty one would read as claims that found nothing
        return out + [Markdown("SPEC §6 states no claims for this family, so there is no claims table.")]
    claims = claims_table(family, results, p, **kw)
    claims.to_csv(Path(figures) / "claims.csv", index=False)
    if not claims.empty:
        counts = claims["verdict"].str.split(" \\(").str[0].value_counts()
        out += [Markdown(f"**SPEC §6's claims for this family** ({'; '.join(f'{v}: {n}' for v, n in counts.items())}). "
                         "A claim holds only when its whole interval lies on the claimed side of the threshold "
                         "the claim names."),
                present.table(claims.set_index("claim"))]
    return out
