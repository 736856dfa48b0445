"""Every attack separates members from non-members when they differ, and not when they do not."""

import numpy as np
import pytest

from advlab.attacks.membership import (
    ldc_classifier,
    ldc_features,
    ldc_mia_attack,
    lira_attack,
    loss_attack,
    ml_leaks_attack,
    neighbourhood_fraction,
    rmia_attack,
    watson_attack,
)
from advlab.errors import AdvlabError
from advlab.metrics.privacy import auc

from .synth import synth

N = 400


def _setup(gap, seed=0, k=5):
    """Target pool (model 0 = target, 1..8 = LiRA shadows), a disjoint shadow pool for
    ML-Leaks / LDC-MIA (one shadow model), OUT reference models and a population."""
    logits, labels, keep = synth(n=N, k=k, m=9, q=2, gap=gap, seed=seed)
    out_keep = np.zeros((4, N), dtype=bool)
    refs, _, _ = synth(n=N, k=k, m=4, q=2, gap=gap, seed=seed, keep=out_keep)  # same difficulties b_i
    sh_logits, sh_labels, sh_keep = synth(n=N, k=k, m=2, q=2, gap=gap, seed=seed + 100)
    sh_refs, _, _ = synth(n=N, k=k, m=2, q=2, gap=gap, seed=seed + 100, keep=np.zeros((2, N), dtype=bool))
    pop, pop_labels, _ = synth(n=200, k=k, m=5, q=2, gap=gap, seed=seed + 200, keep=np.zeros((5, 200), dtype=bool))
    return dict(logits=logits, labels=labels, keep=keep, refs=refs, sh_logits=sh_logits, sh_labels=sh_labels,
                sh_keep=sh_keep, sh_refs=sh_refs, pop=pop, pop_labels=pop_labels)


def _run_all(d):
    t, y = d["logits"][0], d["labels"]
    return {
        "loss": loss_attack(t, y),
        "ml_leaks": ml_leaks_attack(d["sh_logits"][0], d["sh_keep"][0], t),
        "ml_leaks_logreg": ml_leaks_attack(d["sh_logits"][0], d["sh_keep"][0], t, classifier="logreg"),
        "watson": watson_attack(t, d["refs"], y),
        "lira_online": lira_attack(t, d["logits"][1:], d["keep"][1:], y, mode="online", fix_variance=True),
        "lira_offline": lira_attack(t, d["logits"][1:], d["keep"][1:], y, mode="offline", fix_variance=True),
        "lira_online_pervar": lira_attack(t, d["logits"][1:], d["keep"][1:], y, mode="online"),
        "ldc_mia": ldc_mia_attack(d["sh_logits"][0], d["sh_refs"][0], d["sh_labels"], d["sh_keep"][0],
                                  t, d["refs"][0], y, epochs=30),
        "rmia_offline": rmia_attack(t, y, d["refs"], d["pop"][0], d["pop_labels"], d["pop"][1:]),
        "rmia_online": rmia_attack(t, y, d["logits"][1:], d["pop"][0], d["pop_labels"], d["pop"][1:5].repeat(2, 0),
                                   mode="online", reference_keep=d["keep"][1:]),
    }


@pytest.fixture(scope="module")
def leaky():
    d = _setup(gap=2.0)
    return d, _run_all(d)


@pytest.fixture(scope="module")
def exchangeable():
    d = _setup(gap=0.0, seed=5)
    return d, _run_all(d)


ATTACKS = ["loss", "ml_leaks", "ml_leaks_logreg", "watson", "lira_online", "lira_offline", "lira_online_pervar",
           "ldc_mia", "rmia_offline", "rmia_online"]


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_detects_members(leaky, name):
    d, scores = leaky
    s = scores[name]
    assert s.shape == (N,) and np.isfinite(s).all()
    assert auc(s, d["keep"][0]) > 0.6


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_is_chance_when_exchangeable(exchangeable, name):
    d, scores = exchangeable
    assert abs(auc(scores[name], d["keep"][0]) - 0.5) < 0.1


def test_calibration_helps_when_difficulty_varies(leaky):
    d, scores = leaky
    m = d["keep"][0]
    # the synthetic difficulty b_i varies a lot; LiRA's per-example Gaussians must beat raw LOSS
    assert auc(scores["lira_online"], m) > auc(scores["loss"], m) + 0.05
    assert auc(scores["lira_online"], m) > auc(scores["ml_leaks"], m)


@pytest.mark.parametrize("k", [3, 13])
def test_ldc_feature_dimension_is_k_plus_2(k):
    logits, labels, keep = synth(n=50, k=k, m=2, q=2, seed=1)
    f = ldc_features(logits[0], logits[1], labels, logits[1])
    assert f.shape == (50, k + 2)
    np.testing.assert_array_equal(f[:, :k].argmax(1), labels)
    np.testing.assert_array_equal(f[:, :k].sum(1), 1.0)
    assert ldc_classifier(k + 2)[0].out_features == 128
    assert [l.out_features for l in ldc_classifier(40) if hasattr(l, "out_features")] == [160, 80, 2]


def test_ldc_calibrated_score_formula():
    logits, labels, _ = synth(n=30, k=4, m=3, q=1, seed=2)
    pool = logits[2]
    f = ldc_features(logits[0], logits[1], labels, pool, threshold=0.2)
    z, r = logits[0, :, 0].astype(np.float64), logits[1, :, 0].astype(np.float64)
    lse = lambda a: np.log(np.exp(a).sum(1))
    s_t = z[np.arange(30), labels] - lse(z)
    s_ref = r[np.arange(30), labels] - lse(r)
    rn = r / np.linalg.norm(r, axis=1, keepdims=True)
    pn = pool[:, 0] / np.linalg.norm(pool[:, 0], axis=1, keepdims=True)
    n_x = np.maximum(((rn @ pn.T) >= 0.2).sum(1), 1) / 30
    np.testing.assert_allclose(f[:, -1], s_t, rtol=1e-6)
    np.testing.assert_allclose(f[:, -2], (s_t - s_ref) / n_x, rtol=1e-6)


def test_neighbourhood_chunking_does_not_change_result():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(37, 6)), rng.normal(size=(53, 6))
    np.testing.assert_array_equal(neighbourhood_fraction(a, b, chunk_size=5), neighbourhood_fraction(a, b))
    # a pool member is always its own neighbour
    assert (neighbourhood_fraction(b, b, threshold=0.99) >= 1 / 53).all()


def test_ldc_refuses_model_stacks():
    logits, labels, keep = synth(n=20, k=3, m=2, q=2)
    with pytest.raises(AdvlabError, match="exactly one shadow and one reference"):
        ldc_mia_attack(logits, logits[1], labels, keep[0], logits[0], logits[1], labels)


def test_ldc_is_seeded():
    logits, labels, keep = synth(n=60, k=3, m=3, q=1, seed=4)
    run = lambda: ldc_mia_attack(logits[1], logits[2], labels, keep[1], logits[0], logits[2], labels, epochs=3, seed=7)
    np.testing.assert_array_equal(run(), run())


def test_rmia_too_few_references_errors():
    d = _setup(gap=1.0)
    t, y = d["logits"][0], d["labels"]
    with pytest.raises(AdvlabError, match="num_reference=8 .* only 4"):
        rmia_attack(t, y, d["refs"], d["pop"][0], d["pop_labels"], d["pop"][1:], num_reference=8)
    with pytest.raises(AdvlabError, match="num_reference"):
        rmia_attack(t, y, d["refs"][:1], d["pop"][0], d["pop_labels"], d["pop"][1:2], mode="online",
                    reference_keep=d["keep"][1:2])
    # online with only OUT references cannot estimate p(x)
    with pytest.raises(AdvlabError, match="IN and >= 1 OUT"):
        rmia_attack(t, y, d["refs"], d["pop"][0], d["pop_labels"], d["pop"][1:], mode="online",
                    reference_keep=np.zeros((4, N), dtype=bool))


def test_rmia_matches_pairwise_definition():
    d = _setup(gap=1.0)
    t, y = d["logits"][0][:50], d["labels"][:50]
    refs, pop, popy = d["refs"][:, :50], d["pop"][:, :40], d["pop_labels"][:40]
    a, gamma = 0.4, 1.5
    got = rmia_attack(t, y, refs, pop[0], popy, pop[1:5], num_reference=2, a=a, gamma=gamma)
    sm = lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)
    px_t = sm(t[:, 0].astype(float))[np.arange(50), y]
    pz_t = sm(pop[0][:, 0].astype(float))[np.arange(40), popy]
    px = 0.5 * ((1 + a) * np.mean([sm(refs[r][:, 0].astype(float))[np.arange(50), y] for r in range(2)], 0) + 1 - a)
    pz = 0.5 * ((1 + a) * np.mean([sm(pop[1 + r][:, 0].astype(float))[np.arange(40), popy] for r in range(2)], 0) + 1 - a)
    want = ((px_t / px)[:, None] / (pz_t / pz)[None, :] >= gamma).mean(1)
    np.testing.assert_allclose(got, want)


def test_watson_and_loss_formulas():
    logits, labels, _ = synth(n=10, k=3, m=3, q=2, seed=9)
    z = logits.astype(np.float64)
    ce = np.log(np.exp(z).sum(-1)) - np.take_along_axis(z, labels[None, :, None, None].repeat(3, 0).repeat(2, 2), -1)[..., 0]
    np.testing.assert_allclose(loss_attack(logits[0], labels), -ce[0, :, 0], rtol=1e-6)
    np.testing.assert_allclose(loss_attack(logits[0], labels, query=None), -ce[0].mean(1), rtol=1e-6)
    np.testing.assert_allclose(watson_attack(logits[0], logits[1:], labels), -ce[0, :, 0] + ce[1:, :, 0].mean(0),
                               rtol=1e-6)
    with pytest.raises(AdvlabError, match="query"):
        loss_attack(logits[0], labels, query=5)
