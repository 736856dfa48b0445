"""FGSM, CW, HopSkipJump, transfer, EOT and BPDA on the tiny CNN."""

import pytest
import torch
from torch import nn

from advlab.attacks import BPDA, run_attack


def test_fgsm_is_one_signed_step(cnn, batch):
    x, y = batch
    r = run_attack("fgsm", cnn, x, y, eps=0.05)
    xr = x.clone().requires_grad_(True)
    nn.functional.cross_entropy(cnn(xr), y, reduction="sum").backward()
    expected = (x + 0.05 * xr.grad.sign()).clamp(0, 1)
    assert torch.allclose(r.x_adv, expected, atol=1e-6)


def test_cw_reduces_accuracy_with_small_l2(cnn, batch):
    x, y = batch[0][:100], batch[1][:100]
    r = run_attack("cw", cnn, x, y, norm="l2", eps=3.0, steps=60, lr=0.05, binary_steps=3)
    s = r.summary()
    assert s["robust_accuracy"] < s["clean_accuracy"] - 0.5
    assert r.l2[r.success].max() <= 3.0


def test_hsja_reduces_accuracy_with_labels_only(cnn, batch):
    x, y = batch[0][:60], batch[1][:60]
    r = run_attack("hsja", cnn, x, y, norm="l2", eps=2.0, max_queries=600, iterations=15)
    s = r.summary()
    assert s["robust_accuracy"] < s["clean_accuracy"] - 0.5
    assert s["queries_median_success"] > 10  # label queries were spent and counted
    assert r.l2.max() <= 2.0 + 1e-5


def test_transfer_counts_only_target_queries(cnn, surrogate, batch):
    x, y = batch
    r = run_attack("transfer", cnn, x, y, surrogate=surrogate, eps=0.15, steps=10)
    assert torch.all(r.queries == 2)  # clean query + the evaluation of x_adv
    s = r.summary()
    assert s["robust_accuracy"] < s["clean_accuracy"] - 0.1


def test_pgd_beats_fgsm_and_respects_ball(cnn, batch):
    x, y = batch
    pgd = run_attack("pgd", cnn, x, y, eps=0.08, steps=10, restarts=2)
    fgsm = run_attack("fgsm", cnn, x, y, eps=0.08)
    assert pgd.summary()["robust_accuracy"] <= fgsm.summary()["robust_accuracy"]
    assert pgd.linf.max() <= 0.08 + 1e-6


class Quantized(nn.Module):
    """Bit-depth reduction (feature squeezing): zero gradient almost everywhere."""

    def __init__(self, model, levels=4):
        super().__init__()
        self.model, self.levels = model, levels
        self.squeeze = lambda x: torch.round(x * (levels - 1)) / (levels - 1)

    def forward(self, x):
        return self.model(self.squeeze(x))

    def bpda_forward(self, x):
        return BPDA(self.squeeze, self.model)(x)


def test_bpda_breaks_gradient_masking(cnn, batch):
    x, y = batch
    defended = Quantized(cnn)
    plain = run_attack("pgd", defended, x, y, eps=0.15, steps=10, random_start=False).summary()
    bpda = run_attack("pgd", defended, x, y, eps=0.15, steps=10, random_start=False, bpda=True)
    with torch.no_grad():  # judged on the real defended model, not the straight-through one
        acc = (defended(bpda.x_adv).argmax(1) == y).float().mean().item()
    assert acc == pytest.approx(bpda.summary()["robust_accuracy"])
    assert acc < plain["robust_accuracy"] - 0.2


class Noisy(nn.Module):
    """A randomised defense: Gaussian noise on the input at inference."""

    def __init__(self, model, sigma=0.3):
        super().__init__()
        self.model, self.sigma = model, sigma

    def forward(self, x):
        return self.model((x + self.sigma * torch.randn_like(x)).clamp(0, 1))


def test_eot_averages_over_draws_and_counts_them(cnn, batch):
    x, y = batch[0][:100], batch[1][:100]
    torch.manual_seed(0)
    one = run_attack("pgd", Noisy(cnn), x, y, eps=0.1, steps=5, eot_samples=1)
    eot = run_attack("pgd", Noisy(cnn), x, y, eps=0.1, steps=5, eot_samples=8)
    # each iterate costs eot_samples forward passes
    assert eot.queries.max() == 1 + 6 * 8 and one.queries.max() == 1 + 6
    torch.manual_seed(1)
    with torch.no_grad():
        def acc(xa):  # expected accuracy under the defense's randomness
            return sum((Noisy(cnn)(xa).argmax(1) == y).float().mean().item() for _ in range(20)) / 20
        assert acc(eot.x_adv) <= acc(one.x_adv) + 0.02
