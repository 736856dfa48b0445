"""Modified entropy (Song & Mittal 2021): the paper's formula, computed independently; members score higher."""

import numpy as np
import pytest
from scipy.special import softmax

from advlab.attacks.membership import MIA_ATTACKS, MiaInputs, Signals, run_attacks
from advlab.attacks.membership.modified_entropy import modified_entropy, modified_entropy_attack
from advlab.metrics.privacy import auc
from advlab.params import MiaAttackParams

from .synth import synth


def _mentr_direct(probs, y):
    """Eq. (4) term by term, in plain Python floats."""
    out = []
    for p, label in zip(probs, y):
        m = -(1 - p[label]) * np.log(p[label])
        m -= sum(p[i] * np.log(1 - p[i]) for i in range(len(p)) if i != label)
        out.append(m)
    return np.array(out)


def test_matches_the_papers_formula():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, (200, 7))
    y = rng.integers(0, 7, 200)
    got = modified_entropy(z, y)[:, 0]
    np.testing.assert_allclose(got, _mentr_direct(softmax(z, axis=1), y), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(modified_entropy_attack(z, y), -got)


def test_label_matters_and_confident_right_is_lowest():
    z = np.array([[6.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    m = modified_entropy(z, np.array([0, 1, 0]))[:, 0]
    assert m[0] < m[2] < m[1]  # confident and right < uniform < confident and wrong


def test_finite_and_ordered_for_certain_models():
    z = np.array([[800.0, 0.0, -5.0], [40.0, 0.0, 0.0], [0.0, 800.0, 0.0]])  # p = 1.0 exactly in float64
    m = modified_entropy(z, np.array([0, 0, 0]))[:, 0]
    assert np.isfinite(m).all()
    assert m[0] < m[1] < m[2] and m[2] > 700  # wrong and certain: -p log(1 - p) with log(1-p) = -800


def test_members_score_higher_and_exchangeable_is_chance():
    logits, labels, keep = synth(n=400, k=5, m=2, q=2, gap=2.0, seed=0)
    assert auc(modified_entropy_attack(logits[0], labels), keep[0]) > 0.7
    logits, labels, keep = synth(n=400, k=5, m=2, q=2, gap=0.0, seed=1)
    assert abs(auc(modified_entropy_attack(logits[0], labels), keep[0]) - 0.5) < 0.1


def test_registered_as_a_model_free_identity_query_attack():
    meta = MIA_ATTACKS.meta("modified_entropy")
    assert meta["signals"] == ("target",) and meta["models"] == {} and meta["queries"] == "identity"
    logits, labels, keep = synth(n=60, k=4, m=3, q=2, seed=2)
    s = Signals(logits, labels, keep, "plan")
    target = s.select_models(0)
    out = run_attacks(MiaInputs(target, s.select_models([1, 2]), s.select_models([1]), target, s, s,
                                MiaAttackParams(attacks=["modified_entropy"])))
    scores, cost = out["modified_entropy"]
    np.testing.assert_array_equal(scores, modified_entropy_attack(logits[0], labels, query=0))
    assert cost.models_trained == 0 and cost.training_seconds == 0.0


@pytest.mark.parametrize("bad", [np.zeros((3, 1)), np.full((2, 3), np.nan)])
def test_bad_logits_are_refused(bad):
    from advlab.errors import AdvlabError

    with pytest.raises(AdvlabError):
        modified_entropy(bad, np.zeros(len(bad), dtype=int))
