import numpy as np
import pytest
import torch
from torch import nn

from advlab.errors import AdvlabError
from advlab.training.stacked import batch_plan, init_models, train_sequential, train_stacked


def _tiny():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 3))


def _data(n=120, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    keep = np.random.default_rng(seed).random((k, n)) < 0.5
    return x, y, keep


def test_batch_plan_uses_only_members():
    _, _, keep = _data()
    plan = batch_plan(keep, steps=10, batch_size=16, seed=1)
    assert plan.shape == (3, 10, 16)
    for k in range(3):
        assert keep[k, plan[k]].all()
    np.testing.assert_array_equal(plan, batch_plan(keep, 10, 16, seed=1))
    with pytest.raises(AdvlabError, match="no members"):
        batch_plan(np.zeros((2, 5), dtype=bool), 1, 1, 0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_stacked_equals_sequential(optimizer):
    torch.set_num_threads(1)
    x, y, keep = _data()
    models = init_models(_tiny, 3, seed=0)
    kw = dict(steps=1, batch_size=16, lr=0.05, optimizer=optimizer, weight_decay=1e-3, seed=0)
    a, b = train_stacked(models, x, y, keep, **kw), train_sequential(models, x, y, keep, **kw)
    for ma, mb, m0 in zip(a.models, b.models, models):
        for pa, pb, p0 in zip(ma.parameters(), mb.parameters(), m0.parameters()):
            torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
            assert not torch.equal(pa, p0)  # it did train, and the inputs were not modified in place
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-5)
    # over several steps the trajectories stay together and the loss goes down
    kw.update(steps=25)
    a, b = train_stacked(models, x, y, keep, **kw), train_sequential(models, x, y, keep, **kw)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-3, atol=1e-4)
    assert (a.losses[-5:].mean(0) < a.losses[:5].mean(0)).all()


def test_each_model_sees_only_its_members():
    # model 0 trains only on class-0 examples, model 1 only on class-1: their predictions must differ
    x, y, _ = _data(n=90)
    keep = np.stack([(y == 0).numpy(), (y == 1).numpy()])
    res = train_stacked(init_models(_tiny, 2, seed=3), x, y, keep, steps=30, batch_size=8, lr=0.1)
    with torch.no_grad():
        assert (res.models[0](x).argmax(1) == 0).float().mean() > 0.9
        assert (res.models[1](x).argmax(1) == 1).float().mean() > 0.9


def test_batchnorm_is_refused():
    x, y, keep = _data()
    bn = lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    with pytest.raises(AdvlabError, match="BatchNorm"):
        train_stacked(init_models(bn, 3, 0), x, y, keep, steps=1)
