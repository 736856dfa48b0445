"""Interval tables of the models and uncertainty reports, from saved per-example results in the
stages' layout: the point values are the metrics' own, the intervals the bootstrap's."""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pytest

from advlab.metrics.bootstrap import bootstrap, bootstrap_many
from advlab.metrics.calibration import confidence_and_correct, ece, ece_from_confidence
from advlab.metrics.selective import aurc, e_aurc, uncertainty_auroc
from advlab.study import claims

KW = {"n_resamples": 200, "seed": 3}
N_BINS = 15


def _params(models=(), cases=()):
    return NS(models={m: None for m in models}, evaluate=NS(n_bins=N_BINS), uncertainty=NS(cases=list(cases)),
              intervals=NS(confidence=0.95, resamples=KW["n_resamples"], kwargs=lambda: dict(KW)))


def _outputs(tmp_path, models: dict[str, float], n=600):
    """``evaluate/<model>_outputs.npz`` as the evaluate stage writes it (float32 probabilities), each
    model about ``accuracy`` right; a few one-hot rows put confidences on the last bin's edge."""
    rng = np.random.default_rng(5)
    folder = tmp_path / "evaluate"
    folder.mkdir(exist_ok=True)
    labels = rng.integers(0, 10, n)
    for model, accuracy in models.items():
        logits = rng.normal(size=(n, 10)) * 2.0
        right = rng.random(n) < accuracy
        logits[np.arange(n), np.where(right, labels, (labels + 1) % 10)] += 3.0
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        probs[:5] = np.eye(10)[labels[:5]]
        np.savez(folder / f"{model}_outputs.npz", probs=probs.astype(np.float32), labels=labels, index=np.arange(n))
    return folder


def test_models_table_values_are_accuracy_and_ece(tmp_path):
    folder = _outputs(tmp_path, {"cnn": 0.9, "vit": 0.6})
    t = claims.models_intervals(tmp_path, ("cnn", "vit", "never_evaluated"), N_BINS, **KW)
    assert list(t["model"]) == ["cnn", "vit"]  # a model without saved outputs is left out
    for r in t.to_dict("records"):
        z = np.load(folder / f"{r['model']}_outputs.npz")
        conf, correct = confidence_and_correct(z["probs"], z["labels"])
        assert r["accuracy"] == pytest.approx(correct.mean(), abs=1e-12)
        assert r["ECE"] == pytest.approx(ece(z["probs"], z["labels"], N_BINS), abs=1e-12)  # what evaluate's JSON holds
        assert r["ECE"] == pytest.approx(ece_from_confidence(conf, correct, N_BINS), abs=1e-12)
        assert r["n"] == len(correct)
        assert r["accuracy lo"] <= r["accuracy"] <= r["accuracy hi"] and r["ECE lo"] < r["ECE hi"]


def test_models_weighted_path_gives_bootstrap_manys_intervals(tmp_path):
    """The fast statistic of multiplicities draws the same resamples as bootstrap_many (same seed)
    and computes the same accuracy and ECE on each: the same intervals to rounding."""
    folder = _outputs(tmp_path, {"cnn": 0.8})
    (row,) = claims.models_intervals(tmp_path, ("cnn",), N_BINS, **KW).to_dict("records")
    z = np.load(folder / "cnn_outputs.npz")
    conf, correct = confidence_and_correct(z["probs"], z["labels"])
    acc, e = bootstrap_many(lambda c, k: [k.mean(), ece_from_confidence(c, k, N_BINS)], conf, correct, **KW)
    for name, iv in (("accuracy", acc), ("ECE", e)):
        assert row[name] == pytest.approx(iv.value, abs=1e-12)
        assert row[f"{name} lo"] == pytest.approx(iv.lo, abs=1e-12)
        assert row[f"{name} hi"] == pytest.approx(iv.hi, abs=1e-12)


def test_models_report_writes_intervals_and_no_claims(tmp_path):
    _outputs(tmp_path, {"cnn": 0.9, "resnet": 0.7})
    figures = tmp_path / "figures"
    figures.mkdir()
    p = _params(models=("cnn", "resnet"))
    shown, caption = claims.interval_table("models", tmp_path, p, **KW)
    assert list(shown.index) == ["cnn", "resnet"] and "ECE" in caption
    assert shown.loc["cnn", "test accuracy"].endswith("]") and "%" in shown.loc["cnn", "test accuracy"]
    out = claims.report("models", tmp_path, figures, p)
    assert (figures / "intervals.csv").is_file()
    assert not (figures / "claims.csv").exists()  # no claims registered: no empty claims table to misread
    assert "no claims" in out[-1].data
    assert claims.interval_table("models", tmp_path / "elsewhere", p, **KW) is None


def _ace(tmp_path, case="softmax_cnn", n=300):
    """``ace/<case>.npz`` as the uncertainty stage writes it: the white mode's AUROC lowest at the
    second ε, the black mode's at the first."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 10, n)
    pred = np.where(rng.random(n) < 0.85, y, (y + 1) % 10)
    correct = (pred == y).astype(float)
    conf = np.clip(0.6 + 0.3 * correct + 0.1 * rng.normal(size=n), 0.1, 1.0)
    flipped = np.clip(0.9 - 0.3 * correct + 0.1 * rng.normal(size=n), 0.1, 1.0)
    conf_adv = np.stack([np.stack([(conf + flipped) / 2, flipped]), np.stack([flipped, conf])])
    (tmp_path / "ace").mkdir(exist_ok=True)
    np.savez(tmp_path / "ace" / f"{case}.npz", index=np.arange(n), y=y, pred=pred, conf_clean=conf, conf_adv=conf_adv,
             modes=np.array(["white", "black"]), eps=np.array([0.01, 0.05]))
    return correct, conf, conf_adv


def test_uncertainty_aurc_and_e_aurc_are_the_selective_metrics(tmp_path):
    correct, conf, conf_adv = _ace(tmp_path)
    t = claims.uncertainty_intervals(tmp_path, ("softmax_cnn",), **KW)
    assert list(t["mode"]) == ["clean", "white", "black"] and list(t["eps"]) == [0.0, 0.05, 0.01]
    picked = {"clean": conf, "white": conf_adv[0, 1], "black": conf_adv[1, 0]}
    for r in t.to_dict("records"):
        c = picked[r["mode"]]
        assert r["AURC"] == pytest.approx(aurc(c, correct), abs=1e-12)
        assert r["E-AURC"] == pytest.approx(e_aurc(c, correct), abs=1e-12)
        assert r["AURC lo"] <= r["AURC"] <= r["AURC hi"] and r["E-AURC lo"] < r["E-AURC hi"]
        auroc = bootstrap(uncertainty_auroc, c, correct, **KW)  # unchanged by the paired AURC and E-AURC
        assert (r["AUROC"], r["lo"], r["hi"]) == (auroc.value, auroc.lo, auroc.hi)
    shown, caption = claims.interval_table("uncertainty", tmp_path, _params(cases=("softmax_cnn",)), **KW)
    assert list(shown.columns) == ["ε", "AUROC", "AURC", "E-AURC"] and "E-AURC" in caption
    assert shown.loc[("softmax_cnn", "clean"), "AURC"].endswith("]")
