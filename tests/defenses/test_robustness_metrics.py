import numpy as np
import pytest

from advlab.metrics.robustness import perturbation_norms, robustness_summary


def test_robustness_summary_counts_success_over_clean_correct_samples():
    labels = np.array([0, 1, 2, 3])
    clean = np.array([0, 1, 2, 0])  # the last one is wrong already
    adv = np.array([1, 1, 0, 0])
    x = np.zeros((4, 1, 2, 2))
    x_adv = x.copy()
    x_adv[0, 0, 0, 0] = 0.1
    x_adv[2] = 0.05
    s = robustness_summary(clean, adv, labels, x, x_adv, queries=np.array([10, 100, 30, 5]))
    assert s["clean_accuracy"] == 0.75 and s["robust_accuracy"] == 0.25
    assert s["attack_success_rate"] == pytest.approx(2 / 3)
    assert s["queries_mean"] == 20 and s["queries_median"] == 20 and s["queries_total"] == 145
    norms = perturbation_norms(x, x_adv)
    assert norms["linf"].tolist() == pytest.approx([0.1, 0, 0.05, 0])
    assert norms["l2"].tolist() == pytest.approx([0.1, 0, 0.1, 0])
