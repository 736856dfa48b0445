"""Issue 4, item 3: ECE against torchmetrics and KS against its formula, on attacked outputs
(the extreme confidences calibration attacks produce)."""

import pytest
import torch
from torchmetrics.classification import MulticlassCalibrationError

from advlab.attacks import run_attack
from advlab.metrics import calibration as cal


def ks_direct(probs: torch.Tensor, y: torch.Tensor) -> float:
    """Gupta et al. 2021 written out: a plain loop over the sorted samples, the gap read at the end of
    each group of tied confidences (SPEC §1)."""
    conf, pred = probs.max(1)
    order = sorted(range(len(y)), key=lambda i: float(conf[i]))
    acc_sum = conf_sum = best = 0.0
    for k, i in enumerate(order):
        acc_sum += float(pred[i] == y[i]) / len(y)
        conf_sum += float(conf[i]) / len(y)
        if k + 1 == len(order) or float(conf[order[k + 1]]) != float(conf[i]):
            best = max(best, abs(acc_sum - conf_sum))
    return best


@pytest.fixture(scope="module")
def attacked(tiny_models, digits_split):
    x, y = digits_split["test"]
    x, y = x[:80], y[:80]
    out = {}
    for objective in ("underconfidence", "overconfidence", "max_miscalibration", "random_confidence"):
        out[objective] = run_attack("pgd", tiny_models["cnn"], x, y, objective=objective, eps=0.1, steps=8)
    return out


@pytest.mark.parametrize("objective", ["underconfidence", "overconfidence", "max_miscalibration", "random_confidence"])
def test_ece_and_ks_on_attacked_outputs(attacked, objective):
    r = attacked[objective]
    for probs in (r.probs_clean, r.probs_adv):
        tm = MulticlassCalibrationError(num_classes=probs.shape[1], n_bins=15, norm="l1")(probs.double(), r.y)
        assert cal.ece(probs, r.y) == pytest.approx(float(tm), abs=1e-6)
        assert cal.ks_error(probs, r.y) == pytest.approx(ks_direct(probs.double(), r.y), abs=1e-9)
