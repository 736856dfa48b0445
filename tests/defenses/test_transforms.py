import pytest
import torch

from advlab.defenses.transforms import BitDepthReduction, JPEGCompression, MedianFilter, RandomResizePad, gaussian_noise
from advlab.errors import AdvlabError


def _img(seed=0, shape=(2, 3, 16, 16)):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def _input_grad(module, x):
    x = x.clone().requires_grad_(True)
    out = module(x)
    if not out.requires_grad:
        return None  # the transform cut the graph: no gradient at all
    (out * torch.arange(out.numel()).view_as(out)).sum().backward()
    return x.grad


SQUEEZERS = [lambda bpda: BitDepthReduction(3, bpda=bpda), lambda bpda: MedianFilter(2, bpda=bpda), lambda bpda: JPEGCompression(50, bpda=bpda)]


@pytest.mark.parametrize("make", SQUEEZERS)
def test_bpda_has_identity_gradient_and_same_forward(make):
    x = _img()
    plain, bpda = make(False), make(True)
    assert torch.allclose(plain(x), bpda(x).detach(), atol=1e-6)  # x + (t(x) − x) rounds
    grad = _input_grad(bpda, x)
    assert torch.equal(grad, torch.arange(x.numel(), dtype=x.dtype).view_as(x))  # identity backward


@pytest.mark.parametrize("make", SQUEEZERS)
def test_plain_squeezers_give_no_useful_gradient(make):
    grad = _input_grad(make(False), _img())
    assert grad is None or torch.count_nonzero(grad) == 0


def test_bit_depth_values_are_on_the_grid():
    y = BitDepthReduction(2)(_img())
    assert torch.allclose(y * 3, (y * 3).round(), atol=1e-6)
    assert len(torch.unique(y)) <= 4


def test_median_filter_removes_isolated_spike_and_keeps_size():
    x = torch.full((1, 1, 9, 9), 0.2)
    x[0, 0, 4, 4] = 1.0
    for k in (2, 3):
        y = MedianFilter(k)(x)
        assert y.shape == x.shape
        assert torch.allclose(y, torch.full_like(x, 0.2))


def test_jpeg_roughly_preserves_smooth_images():
    x = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(2, 3, 32, 32).contiguous()
    y = JPEGCompression(90)(x)
    assert y.shape == x.shape and (y - x).abs().mean() < 0.02
    with pytest.raises(AdvlabError, match="quality"):
        JPEGCompression(0)


def test_random_resize_pad_is_random_seeded_and_differentiable():
    x = _img(shape=(2, 1, 28, 28))
    a, b = RandomResizePad(seed=3), RandomResizePad(seed=3)
    outs_a = [a(x) for _ in range(4)]
    outs_b = [b(x) for _ in range(4)]
    assert all(torch.equal(p, q) for p, q in zip(outs_a, outs_b))  # same seed, same draws
    assert any(not torch.equal(outs_a[0], o) for o in outs_a[1:])  # but random per call
    assert outs_a[0].shape == x.shape
    assert RandomResizePad(max_size=40, resize_back=False, seed=0)(x).shape == (2, 1, 40, 40)
    grad = _input_grad(RandomResizePad(seed=0), x)
    assert grad is not None and grad.abs().sum() > 0


def test_gaussian_noise_has_the_requested_scale_and_seed():
    x = torch.zeros(4, 1, 64, 64)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a, b = gaussian_noise(x, 0.25, g1), gaussian_noise(x, 0.25, g2)
    assert torch.equal(a, b)
    assert a.std().item() == pytest.approx(0.25, rel=0.05)
    assert gaussian_noise(x, 0.5, clip=True).min() >= 0
    with pytest.raises(AdvlabError, match="sigma"):
        gaussian_noise(x, -1.0)


def test_transform_registry_builds_every_kind_by_name():
    from advlab.defenses.transforms import TRANSFORMS, make_transform

    assert TRANSFORMS.names() == ["bit_depth", "jpeg", "median", "resize_pad"]
    bd = make_transform("bit_depth", {"bits": 3}, bpda=True)
    assert isinstance(bd, BitDepthReduction) and bd.bits == 3 and bd.bpda
    assert isinstance(make_transform("median", {}), MedianFilter)
    assert make_transform("jpeg", {"quality": 40}).quality == 40
    rp = make_transform("resize_pad", {}, seed=5)
    assert isinstance(rp, RandomResizePad) and rp.seed == 5
    assert make_transform("resize_pad", {"seed": 9}, seed=5).seed == 9  # an explicit option wins
    with pytest.raises(AdvlabError, match="defense kind 'blur' does not exist; allowed: bit_depth, jpeg"):
        make_transform("blur", {})
    with pytest.raises(AdvlabError, match=r"defense 'median': bad options \['size'\]"):
        make_transform("median", {"size": 3})


def test_naive_and_adaptive_views():
    from advlab.defenses.transforms import NoGradient, naive_and_adaptive

    naive, adaptive, randomized = naive_and_adaptive("median", {"kernel_size": 2}, seed=3)
    assert not randomized and isinstance(naive, NoGradient) and adaptive.bpda
    g = _input_grad(naive, _img())
    assert g is not None and g.abs().max() == 0  # the naive attacker gets a zero gradient
    assert torch.equal(naive(_img()), adaptive(_img()))  # same forward value
    naive, adaptive, randomized = naive_and_adaptive("resize_pad", {}, seed=3)
    assert randomized and naive.seed == 3 and adaptive.seed == 4
