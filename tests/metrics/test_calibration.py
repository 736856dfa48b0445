import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassCalibrationError

from advlab.metrics import calibration as cal


def _random_probs(n=500, k=7, seed=0, temp=1.0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g) * 3 / temp
    labels = torch.randint(0, k, (n,), generator=g)
    # make a fraction of predictions right so accuracy is not ~1/K
    right = torch.rand(n, generator=g) < 0.6
    logits[right, labels[right]] += 4
    return logits.softmax(1).double(), labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ece_matches_torchmetrics(seed):
    probs, labels = _random_probs(seed=seed)
    ref = MulticlassCalibrationError(num_classes=probs.shape[1], n_bins=15, norm="l1")(probs, labels)
    assert abs(cal.ece(probs, labels) - float(ref)) < 1e-6


def test_mce_matches_torchmetrics():
    probs, labels = _random_probs(seed=3)
    ref = MulticlassCalibrationError(num_classes=probs.shape[1], n_bins=15, norm="max")(probs, labels)
    assert abs(cal.mce(probs, labels) - float(ref)) < 1e-6


def test_ks_matches_direct_formula():
    probs, labels = _random_probs(seed=4)
    conf, correct = probs.max(1).values.numpy(), (probs.argmax(1) == labels).numpy()
    order = np.argsort(conf)
    n = len(conf)
    best = 0.0
    for i in range(1, n + 1):  # the definition, one prefix at a time, ending where a tie group ends
        if i < n and conf[order][i] == conf[order][i - 1]:
            continue
        a = correct[order][:i].sum() / n
        c = conf[order][:i].sum() / n
        best = max(best, abs(a - c))
    assert cal.ks_error(probs, labels) == pytest.approx(best, abs=1e-12)


def test_ks_does_not_depend_on_the_order_of_tied_inputs():
    p = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4]])
    # the example: the old prefix maximum gave 0.4667 for one order and 0.5 for the other
    assert cal.ks_error(p, torch.tensor([0, 1, 1])) == pytest.approx(1.4 / 3, abs=1e-7)
    assert cal.ks_error(p, torch.tensor([1, 0, 1])) == pytest.approx(1.4 / 3, abs=1e-7)
    gen = torch.Generator().manual_seed(0)
    conf = torch.randint(5, 10, (200,), generator=gen).float() / 10  # five confidence values, many ties
    probs = torch.stack([conf, 1 - conf], 1)
    labels = torch.randint(0, 2, (200,), generator=gen)
    want = cal.ks_error(probs, labels)
    for seed in range(5):
        perm = torch.randperm(200, generator=torch.Generator().manual_seed(seed))
        assert cal.ks_error(probs[perm], labels[perm]) == pytest.approx(want, abs=1e-12)


def test_perfectly_calibrated_has_zero_ece_and_overconfident_does_not():
    # 100 samples at confidence 0.8 with exactly 80 correct: ECE = 0.
    probs = np.tile([0.8, 0.2], (100, 1))
    labels = np.array([0] * 80 + [1] * 20)
    assert cal.ece(probs, labels) == pytest.approx(0.0, abs=1e-12)
    labels = np.array([0] * 50 + [1] * 50)
    assert cal.ece(probs, labels) == pytest.approx(0.3)


def test_reliability_counts_sum_to_n():
    probs, labels = _random_probs(seed=5)
    r = cal.reliability(*cal.confidence_and_correct(probs, labels))
    assert r["count"].sum() == len(labels)
    assert np.all((r["confidence"][r["count"] > 0] > r["lo"][r["count"] > 0]))
