import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advlab.errors import AdvlabError
from advlab.models.estimators import (
    DeepEnsemble,
    MCDropout,
    SelectiveNet,
    SelectiveOutput,
    Softmax,
    TemperatureScaled,
    build_estimator,
    selectivenet_loss,
)
from advlab.models.zoo import build_model


class Net(nn.Module):
    """Zoo-style toy: BatchNorm (must stay in eval under MC-Dropout) and one dropout layer."""

    def __init__(self, dropout: float = 0.5, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 24), nn.BatchNorm1d(24), nn.ReLU(), nn.Dropout(dropout) if dropout else nn.Identity())
        self.head = nn.Linear(24, 5)
        self.has_dropout = dropout > 0
        self.feature_dim, self.num_classes = 24, 5
        self.body[2].running_mean.normal_()  # non-trivial statistics, to notice if they move

    def embed(self, x):
        return self.body(x - 0.5)

    def classify(self, f):
        return self.head(f)

    def forward(self, x):
        return self.classify(self.embed(x))


X = torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(1))
Y = torch.arange(8) % 5


def test_softmax_and_temperature_return_log_probs():
    net = Net().eval()
    assert torch.allclose(Softmax(net)(X), F.log_softmax(net(X), 1))
    ts = TemperatureScaled(net, 2.0)
    assert torch.allclose(ts(X), F.log_softmax(net(X) / 2, 1))
    assert torch.allclose(ts.confidence(X), torch.softmax(net(X) / 2, 1).amax(1))
    with pytest.raises(AdvlabError, match="temperature"):
        TemperatureScaled(net, 0.0)


def test_mc_dropout_keeps_batchnorm_in_eval_and_restores_modes():
    net = Net().train()
    stats = net.body[2].running_mean.clone()
    with torch.no_grad():
        MCDropout(net, T=4)(X)
    assert torch.equal(net.body[2].running_mean, stats)
    assert all(m.training for m in net.modules())
    net.eval()
    MCDropout(net, T=2)(X)
    assert not any(m.training for m in net.modules())


def test_mc_dropout_checks():
    with pytest.raises(AdvlabError, match="no dropout"):
        MCDropout(Net(dropout=0.0))
    with pytest.raises(AdvlabError, match="T=0"):
        MCDropout(Net(), T=0)


def test_deep_ensemble_averages_probabilities():
    members = [Net(seed=s).eval() for s in range(3)]
    ens = DeepEnsemble(members)
    mean_p = torch.stack([torch.softmax(m(X), 1) for m in members]).mean(0)
    assert torch.allclose(ens(X).exp(), mean_p, atol=1e-6)
    assert torch.allclose(DeepEnsemble(members[:1])(X), Softmax(members[0])(X), atol=1e-6)
    with pytest.raises(AdvlabError, match="M >= 1"):
        DeepEnsemble([])


def test_selectivenet_heads_and_confidence():
    sn = SelectiveNet(Net(), hidden=16).eval()
    out = sn.heads(X)
    assert out.logits.shape == (8, 5) and out.selection.shape == (8,) and out.aux_logits.shape == (8, 5)
    assert torch.allclose(sn.confidence(X), out.selection)
    assert ((out.selection > 0) & (out.selection < 1)).all()
    assert torch.allclose(sn(X), F.log_softmax(out.logits, 1))


def test_selectivenet_loss_decreases_under_training():
    torch.manual_seed(0)
    x, y = torch.rand(64, 1, 4, 4), torch.randint(0, 5, (64,))
    sn = SelectiveNet(Net(dropout=0.0), hidden=16).train()
    opt = torch.optim.Adam(sn.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = selectivenet_loss(sn.heads(x), y, coverage=0.7)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_coverage_penalty_bites_only_below_target():
    logits, aux = torch.randn(10, 5), torch.randn(10, 5)
    y = torch.arange(10) % 5
    low = SelectiveOutput(logits, torch.full((10,), 0.2), aux)
    high = SelectiveOutput(logits, torch.full((10,), 0.9), aux)
    # With constant g the selective risk is the mean CE either way; only the penalty differs.
    gap = selectivenet_loss(low, y, 0.8) - selectivenet_loss(low, y, 0.8, lam=0.0)
    assert gap.item() == pytest.approx(0.5 * 32 * 0.6**2, rel=1e-5)
    assert selectivenet_loss(high, y, 0.8).item() == pytest.approx(selectivenet_loss(high, y, 0.8, lam=0.0).item())
    ce, ce_aux = F.cross_entropy(logits, y), F.cross_entropy(aux, y)
    assert selectivenet_loss(high, y, 0.8).item() == pytest.approx((0.5 * ce + 0.5 * ce_aux).item(), rel=1e-5)
    for bad in (0.0, 1.2):
        with pytest.raises(AdvlabError, match="coverage"):
            selectivenet_loss(low, y, bad)


def test_registry():
    net = Net().eval()
    assert isinstance(build_estimator("mc_dropout", net, T=3), MCDropout)
    assert isinstance(build_estimator("ensemble", [net, Net(seed=1)]), DeepEnsemble)
    sel = build_model("selectivenet", (1, 4, 4), 5, base="small_cnn", selector_hidden=8, width=4, hidden=8)
    assert isinstance(build_estimator("selectivenet", sel), SelectiveNet)
    assert math.isclose(float(build_estimator("temperature", net, temperature=1.5).temperature), 1.5)
    with pytest.raises(AdvlabError, match="unknown"):
        build_estimator("bayes_by_backprop", net)
    with pytest.raises(AdvlabError, match="bad arguments"):
        build_estimator("softmax", net, T=3)
