"""Poisoning attacks (label flipping, BadNets): the library's poisoners and their registry."""

import torch

from advlab.attacks.poisoning import POISONINGS, backdoor, flip_labels, stamp


def test_label_flip_changes_exactly_the_requested_fraction():
    y = torch.arange(1000) % 10
    out, idx = flip_labels(y, 0.2, 10, torch.Generator().manual_seed(0))
    assert len(idx) == 200 and (out != y).sum() == 200 and (out[idx] != y[idx]).all()
    assert out.min() >= 0 and out.max() <= 9


def test_backdoor_stamps_and_relabels():
    x, y = torch.zeros(100, 1, 8, 8), torch.arange(100) % 10
    xp, yp, idx = backdoor(x, y, 0.05, 3, 2, 1.0, torch.Generator().manual_seed(0))
    assert len(idx) == 5 and (yp[idx] == 3).all()
    assert xp[idx][..., -2:, -2:].eq(1).all() and xp[idx].sum() == 5 * 4
    rest = torch.ones(100, dtype=torch.bool)
    rest[idx] = False
    assert xp[rest].eq(0).all() and (yp[rest] == y[rest]).all()
    assert stamp(x[:1], 3, 0.5)[..., -3:, -3:].eq(0.5).all()


def test_registered_poisoners_match_the_helpers():
    x, y = torch.zeros(100, 1, 8, 8), torch.arange(100) % 10
    opts = {"num_classes": 10, "target_class": 3, "patch_size": 2, "patch_value": 1.0}
    xf, yf, idx = POISONINGS.get("label_flip")(x, y, 0.2, torch.Generator().manual_seed(0), **opts)
    ref, ref_idx = flip_labels(y, 0.2, 10, torch.Generator().manual_seed(0))
    assert xf is x and torch.equal(yf, ref) and (idx == ref_idx).all()
    xb, yb, idx = POISONINGS.get("backdoor")(x, y, 0.05, torch.Generator().manual_seed(0), **opts)
    rx, ry, ridx = backdoor(x, y, 0.05, 3, 2, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(xb, rx) and torch.equal(yb, ry) and (idx == ridx).all()
    assert POISONINGS.meta("backdoor")["triggered"] and not POISONINGS.meta("label_flip")["triggered"]
