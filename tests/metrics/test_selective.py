import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from advlab.errors import AdvlabError
from advlab.metrics.selective import (
    aurc,
    e_aurc,
    optimal_aurc,
    risk_coverage_curve,
    selective_risk,
    selective_summary,
    uncertainty_auroc,
)


def _sample(n=400, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    correct = rng.random(n) < 0.7
    conf = rng.normal(loc=correct * 1.0, scale=1.0)
    if ties:
        conf = np.round(conf, 1)  # many tie groups mixing right and wrong answers
    return conf, correct


def _slow_aurc(conf, correct):
    """The definition, for distinct scores: mean over k of the error rate of the k most confident."""
    order = sorted(range(len(conf)), key=lambda i: -conf[i])
    return np.mean([np.mean([not correct[i] for i in order[:k]]) for k in range(1, len(conf) + 1)])


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_matches_sklearn(ties):
    conf, correct = _sample(ties=ties)
    assert uncertainty_auroc(conf, correct) == pytest.approx(roc_auc_score(correct, conf), abs=1e-12)
    assert uncertainty_auroc(torch.tensor(conf), torch.tensor(correct)) == pytest.approx(roc_auc_score(correct, conf))


def test_aurc_matches_the_definition_for_distinct_scores():
    conf, correct = _sample(n=150)
    assert aurc(conf, correct) == pytest.approx(_slow_aurc(conf, correct), abs=1e-12)
    coverage, risk = risk_coverage_curve(conf, correct)
    assert coverage[0] == pytest.approx(1 / 150) and coverage[-1] == 1.0
    assert risk[-1] == pytest.approx(1 - correct.mean())


def test_ties_give_the_expected_value_over_random_orders():
    conf = np.array([0.9, 0.5, 0.5, 0.5, 0.2, 0.2])
    correct = np.array([1, 0, 1, 1, 0, 1])
    # Average the definition over every order of the tied samples.
    values = [
        _slow_aurc(conf + 1e-9 * np.array(p), correct)
        for p in itertools.permutations(range(6))
    ]
    assert aurc(conf, correct) == pytest.approx(np.mean(values), abs=1e-12)
    # ...and the result does not depend on the order of the input.
    perm = np.array([5, 3, 1, 0, 4, 2])
    assert aurc(conf[perm], correct[perm]) == pytest.approx(aurc(conf, correct), abs=1e-15)


def test_constant_score_is_useless():
    correct = np.array([1, 0, 1, 1, 0, 1, 1, 1])
    conf = np.full(8, 0.7)
    assert uncertainty_auroc(conf, correct) == 0.5
    assert np.allclose(risk_coverage_curve(conf, correct)[1], 0.25)


def test_e_aurc_vanishes_for_a_perfect_ranking_and_not_for_an_inverted_one():
    n = 20_000
    correct = np.arange(n) < 0.8 * n
    perfect = correct + np.linspace(0, 0.5, n)  # every correct sample above every wrong one
    # The closed-form AURC* is the large-n limit; the discrete optimum differs by O(log n / n).
    assert abs(e_aurc(perfect, correct)) < 1e-3
    assert e_aurc(-perfect, correct) > 0.5
    assert uncertainty_auroc(perfect, correct) == 1.0 and uncertainty_auroc(-perfect, correct) == 0.0


def test_optimal_aurc_edge_cases():
    assert optimal_aurc(0.0) == 0.0
    assert optimal_aurc(1.0) == 1.0
    assert optimal_aurc(0.2) == pytest.approx(0.2 + 0.8 * math.log(0.8))


def test_selective_risk_at_coverages():
    conf = np.arange(10, 0, -1).astype(float)  # already most confident first
    correct = np.array([1, 1, 1, 1, 1, 0, 1, 1, 0, 0])
    risks = selective_risk(conf, correct, [0.5, 0.6, 0.8, 0.9, 1.0])
    assert risks.tolist() == pytest.approx([0.0, 1 / 6, 1 / 8, 2 / 9, 3 / 10])
    assert float(selective_risk(conf, correct, 0.55)) == pytest.approx(1 / 6)  # ceil(5.5) = 6 kept
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(AdvlabError, match="coverage"):
            selective_risk(conf, correct, [0.5, bad])


def test_summary_and_input_checks():
    conf, correct = _sample()
    s = selective_summary(conf, correct)
    assert set(s) >= {"accuracy", "aurc", "e_aurc", "auroc", "risk@0.5", "risk@1"}
    assert s["risk@1"] == pytest.approx(1 - s["accuracy"])
    assert math.isnan(uncertainty_auroc([0.2, 0.9], [1, 1]))
    with pytest.raises(AdvlabError, match="match"):
        aurc([0.1, 0.2], [1])
    with pytest.raises(AdvlabError, match="NaN"):
        aurc([0.1, float("nan")], [1, 0])


def test_selective_summary_matches_sklearn_and_the_definition():
    rng = np.random.default_rng(0)
    correct = rng.random(300) < 0.8
    conf = rng.random(300) + 0.3 * correct
    s = selective_summary(conf, correct)
    assert s["auroc"] == pytest.approx(roc_auc_score(correct, conf), abs=1e-12)
    order = np.argsort(-conf)
    slow = np.mean([np.mean(~correct[order[:k]]) for k in range(1, 301)])
    assert s["aurc"] == pytest.approx(slow, abs=1e-12) == aurc(conf, correct)
