import mpmath
import numpy as np
import pytest
from scipy.stats import norm

from advlab.attacks.membership import lira_attack, lira_phi
from advlab.errors import AdvlabError

from .synth import synth


def _phi_direct(z, y):
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    return np.log(p[y]) - np.log(p.sum() - p[y])


def _lira_direct(logits, labels, keep, mode, fix_variance):
    """Per-example loop over the published formula with scipy.stats.norm."""
    target, shadows, skeep = logits[0].astype(np.float64), logits[1:].astype(np.float64), keep[1:]
    m, n, q, _ = shadows.shape
    phi_s = np.array([[[_phi_direct(shadows[j, i, a], labels[i]) for a in range(q)] for i in range(n)] for j in range(m)])
    all_in = np.concatenate([phi_s[skeep[:, i], i] for i in range(n)])
    all_out = np.concatenate([phi_s[~skeep[:, i], i] for i in range(n)])
    out = []
    for i in range(n):
        phi_t = np.array([_phi_direct(target[i, a], labels[i]) for a in range(q)])
        ins, outs = phi_s[skeep[:, i], i], phi_s[~skeep[:, i], i]
        mu_out, sd_out = np.median(outs, 0), outs.std(0)
        if mode == "offline":
            if fix_variance:
                sd_out = all_out.std()
            out.append(np.mean(-norm.logsf(phi_t, mu_out, sd_out)))
        else:
            mu_in, sd_in = np.median(ins, 0), ins.std(0)
            if fix_variance:
                sd_in = sd_out = all_in.std()
            out.append(np.mean(norm.logpdf(phi_t, mu_in, sd_in) - norm.logpdf(phi_t, mu_out, sd_out)))
    return np.array(out)


@pytest.mark.parametrize("mode", ["online", "offline"])
@pytest.mark.parametrize("fix_variance", [False, True])
def test_lira_matches_direct_formula(mode, fix_variance):
    logits, labels, keep = synth(n=30, k=4, m=9, q=3, seed=3)
    got = lira_attack(logits[0], logits[1:], keep[1:], labels, mode=mode, fix_variance=fix_variance)
    want = _lira_direct(logits, labels, keep, mode, fix_variance)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_phi_stable_for_huge_logits():
    z = np.array([[1e4, 1e4 - 3.0, -1e4], [-800.0, 750.0, 760.0], [1e5, 0.0, 0.0], [3.0, 3.0, 3.0]])
    y = np.array([0, 0, 0, 1])
    got = lira_phi(z, y)[:, 0]
    assert np.isfinite(got).all()
    mpmath.mp.dps = 60
    for row, label, g in zip(z, y, got):
        e = [mpmath.exp(mpmath.mpf(float(v))) for v in row]
        total = sum(e)
        p = [v / total for v in e]
        want = mpmath.log(p[label]) - mpmath.log(sum(p) - p[label])
        assert abs(g - float(want)) <= 1e-9 * max(1.0, abs(float(want)))


def test_phi_float32_input_is_computed_in_float64():
    z = np.array([[88.0, 0.0, -88.0]], dtype=np.float32)  # exp(88) overflows float32
    assert np.isfinite(lira_phi(z, np.array([0]))).all()


def test_lira_online_errors_without_in_models():
    logits, labels, keep = synth(n=20, m=5, seed=1)
    keep = keep.copy()
    keep[1:, 7] = False  # example 7 is OUT for every shadow model
    with pytest.raises(AdvlabError, match="IN shadow models per example"):
        lira_attack(logits[0], logits[1:], keep[1:], labels, mode="online", fix_variance=True)
    # offline needs only OUT models
    assert np.isfinite(lira_attack(logits[0], logits[1:], keep[1:], labels, mode="offline", fix_variance=True)).all()


def test_lira_per_example_variance_needs_two_per_side():
    logits, labels, keep = synth(n=20, m=3, seed=1)  # 2 shadows: 1 IN / 1 OUT at best
    with pytest.raises(AdvlabError, match="fix_variance=True"):
        lira_attack(logits[0], logits[1:], keep[1:], labels, mode="online")


def test_lira_rejects_bad_mode():
    logits, labels, keep = synth(n=10, m=5)
    with pytest.raises(AdvlabError, match="mode"):
        lira_attack(logits[0], logits[1:], keep[1:], labels, mode="both")
