"""The README's "Results at a glance" numbers equal the committed report tables
(reports/figures/*/*.csv) to the precision the README prints, so the two cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "reports" / "figures"


def glance_row(family: str) -> str:
    text = (ROOT / "README.md").read_text()
    row = re.search(rf"^\| \[{family}\]\(reports/{family}\.html\) \|(.*)\|$", text, re.M)
    assert row, f"README has no results row for {family}"
    return row[1]


def printed(row: str, pattern: str) -> tuple[float, int]:
    """The number the pattern's group captures, and its count of decimals."""
    m = re.search(pattern, row)
    assert m, f"{pattern!r} not found in {row!r}"
    digits = m[1]
    return float(digits), len(digits.split(".")[1]) if "." in digits else 0


def assert_row_prints(family: str, expected) -> None:
    """Each (pattern, true value, scale) is printed in the family's row as value × scale, rounded."""
    row = glance_row(family)
    for pattern, truth, scale in expected:
        value, decimals = printed(row, pattern)
        assert value == round(float(truth) * scale, decimals), (pattern, truth)


def percent(cell: str) -> float:
    return float(str(cell).split("%")[0])


MODELS = [  # (pattern in the models row, model, column, scale)
    (r"small CNN ([\d.]+) % test accuracy", "cnn", "test acc", 100),
    (r"small CNN [\d.]+ % test accuracy \(ECE ([\d.]+)\)", "cnn", "ECE", 1),
    (r"ResNet ([\d.]+) %", "resnet", "test acc", 100),
    (r"ResNet [\d.]+ % \(([\d.]+)\)", "resnet", "ECE", 1),
    (r"ViT ([\d.]+) %", "vit", "test acc", 100),
    (r"ViT [\d.]+ % \(([\d.]+)\)", "vit", "ECE", 1),
]


@pytest.mark.parametrize("pattern, model, column, scale", MODELS)
def test_models_row_matches_the_models_table(pattern, model, column, scale):
    table = pd.read_csv(FIGURES / "models" / "metrics.csv").set_index("model")
    value, decimals = printed(glance_row("models"), pattern)
    assert value == round(float(table.loc[model, column]) * scale, decimals)


MEMBERSHIP = [  # (pattern, attack): TPR at 1 % FPR on the baseline target
    (r"LDC-MIA \(2 models\) TPR ([\d.]+) % at 1 % FPR", "ldc_mia"),
    (r"LOSS ([\d.]+) %", "loss"),
    (r"Watson ([\d.]+) %", "watson"),
    (r"LiRA online \(16 shadows\) ([\d.]+) %", "lira_online"),
]


@pytest.mark.parametrize("pattern, attack", MEMBERSHIP)
def test_membership_row_matches_the_baseline_table(pattern, attack):
    table = pd.read_csv(FIGURES / "membership" / "tpr_at_fpr_baseline.csv").set_index("attack")
    value, decimals = printed(glance_row("membership"), pattern)
    assert value == round(percent(table.loc[attack, "TPR@1%"]), decimals)


def test_uncertainty_row_matches_the_summary_table():
    table = pd.read_csv(FIGURES / "uncertainty" / "summary.csv").set_index("estimator")
    row = glance_row("uncertainty")
    before, d1 = printed(row, r"AUROC from ([\d.]+) to")
    after, d2 = printed(row, r"AUROC from [\d.]+ to ([\d.]+)")
    assert before == round(float(table.loc["softmax · cnn", "AUROC"]), d1)
    assert after == round(float(table.loc["softmax · cnn", "white: min AUROC"]), d2)


def test_evasion_row_matches_the_attack_and_poisoning_tables():
    attacks = pd.read_csv(FIGURES / "evasion" / "attacks.csv").set_index(["model", "attack"])
    poisoning = pd.read_csv(FIGURES / "evasion" / "poisoning.csv")
    badnets = poisoning[(poisoning["kind"] == "backdoor") & (poisoning["rate"] == 0.05)].iloc[0]
    assert_row_prints("evasion", [
        (r"undefended CNN ([\d.]+) %", attacks.loc[("cnn", "pgd40"), "robust_accuracy"], 100),
        (r"PGD-AT ([\d.]+) %", attacks.loc[("cnn_pgdat", "pgd40"), "robust_accuracy"], 100),
        (r"PGD-AT [\d.]+ % \(clean ([\d.]+) %\)", attacks.loc[("cnn_pgdat", "pgd40"), "clean_accuracy"], 100),
        (r"Square L∞ ([\d.]+) % success", attacks.loc[("cnn", "square"), "success_rate"], 100),
        (r"median ([\d.]+) queries", attacks.loc[("cnn", "square"), "queries_median_success"], 1),
        (r"BadNets 5 %: ASR ([\d.]+) %", badnets["attack_success_rate"], 100),
        (r"clean −([\d.]+) pt", badnets["clean_accuracy_drop"], 100),
    ])


def test_calibration_row_matches_the_metrics_and_defense_tables():
    metrics = pd.read_csv(FIGURES / "calibration" / "metrics.csv")
    maxmis = metrics[(metrics["model"] == "cnn") & (metrics["objective"] == "max_miscalibration")]
    ratios = maxmis["ECE adv"] / maxmis["ECE"]
    worst = pd.read_csv(FIGURES / "calibration" / "defenses.csv").set_index("target")["worst ECE"]
    assert_row_prints("calibration", [
        (r"ECE ([\d.]+)–[\d.]+×", ratios.min(), 1),
        (r"ECE [\d.]+–([\d.]+)×", ratios.max(), 1),
        (r"worst post-attack ECE from ([\d.]+)", worst["undefended"], 1),
        (r"worst post-attack ECE from [\d.]+ to ([\d.]+) /", worst["compression_scaling"], 1),
        (r"worst post-attack ECE from [\d.]+ to [\d.]+ / ([\d.]+)", worst["caat"], 1),
        (r"PGD-AT: ([\d.]+)\)", worst["pgd_at"], 1),
    ])


def test_a_drifted_number_is_caught():
    table = pd.read_csv(FIGURES / "models" / "metrics.csv").set_index("model")
    value, decimals = printed("ResNet 86.6 % (0.012)", r"ResNet [\d.]+ % \(([\d.]+)\)")
    assert value != round(float(table.loc["resnet", "ECE"]), decimals)  # 0.01145 prints as 0.011


def test_evasion_row_autoattack_matches_the_autoattack_table():
    table = pd.read_csv(FIGURES / "evasion" / "autoattack.csv").set_index("model")
    assert_row_prints("evasion", [
        (r"PGD-AT ([\d.]+) % vs PGD-40", percent(table.loc["cnn_pgdat", "AutoAttack"]) / 100, 100),
        (r"PGD-AT [\d.]+ % vs PGD-40 ([\d.]+) %", percent(table.loc["cnn_pgdat", "pgd40"]) / 100, 100),
        (r"TRADES ([\d.]+) % vs", percent(table.loc["cnn_trades", "AutoAttack"]) / 100, 100),
        (r"TRADES [\d.]+ % vs ([\d.]+) %", percent(table.loc["cnn_trades", "pgd40"]) / 100, 100),
    ])
