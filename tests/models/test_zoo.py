import pytest
import torch

from advlab.errors import AdvlabError
from advlab.models.checkpoint import load_model, save_model
from advlab.models.zoo import available, build_model

SHAPES = [(1, 28, 28), (3, 32, 32), (1, 8, 8)]
SMALL = {"small_cnn": {"width": 4, "hidden": 16}, "resnet": {"width": 4}, "vit": {"embed_dim": 16, "depth": 1,
                                                                                   "num_heads": 2, "patch_size": 4}}


@pytest.mark.parametrize("arch", ["small_cnn", "resnet", "vit"])
@pytest.mark.parametrize("shape", SHAPES)
def test_builds_and_classifies(arch, shape):
    opts = dict(SMALL[arch])
    if arch == "vit" and shape[1] == 8:
        opts["patch_size"] = 2
    m = build_model(arch, shape, 7, dropout=0.1, **opts).eval()
    x = torch.rand(3, *shape)
    out = m(x)
    assert out.shape == (3, 7)
    torch.testing.assert_close(m.classify(m.embed(x)), out)
    assert m.has_dropout


def test_normalises_inside():
    """Inputs are in [0,1]; mean/std are buffers applied inside forward."""
    m = build_model("small_cnn", (1, 8, 8), 3, width=4, hidden=8, mean=[0.3], std=[0.2]).eval()
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(m(x), m.classify(m.backbone.embed((x - 0.3) / 0.2)))
    assert "mean" in dict(m.named_buffers())


def test_registry_errors():
    assert {"small_cnn", "resnet", "vit"} <= set(available())
    with pytest.raises(AdvlabError, match="unknown model 'vgg'"):
        build_model("vgg", (1, 8, 8), 10)
    with pytest.raises(AdvlabError, match="unknown option"):
        build_model("small_cnn", (1, 8, 8), 10, depth=3)
    with pytest.raises(AdvlabError, match="patch_size 3"):
        build_model("vit", (1, 28, 28), 10, patch_size=3)


def _saved(tmp_path):
    spec = {"arch": "small_cnn", "input_shape": [1, 8, 8], "num_classes": 10,
            "options": {"width": 4, "hidden": 8, "mean": [0.5], "std": [0.25]}}
    model = build_model("small_cnn", (1, 8, 8), 10, **dict(spec["options"])).eval()
    folder = tmp_path / "cnn"
    save_model(folder, model, spec, {"plan_hash": "abc"})
    return model, folder


def test_checkpoint_roundtrip_uses_safetensors(tmp_path):
    model, folder = _saved(tmp_path)
    loaded, sidecar = load_model(folder)
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(loaded(x), model(x))
    assert sidecar["plan_hash"] == "abc"
    assert (folder / "model.safetensors").read_bytes()[8:9] == b"{"  # safetensors header, not a pickle


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_damaged_checkpoint_is_a_clear_error(tmp_path, damage):
    _, folder = _saved(tmp_path)
    weights = folder / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "garbage":
        weights.write_bytes(b"\x00" * 64)
    else:
        weights.unlink()
    with pytest.raises(AdvlabError) as err:
        load_model(folder)
    assert "model.safetensors" in str(err.value) and "dvc repro" in str(err.value)


@pytest.mark.parametrize("arch", ["small_cnn", "resnet"])
def test_models_are_channels_last_with_the_nchw_outputs_and_gradients(tmp_path, arch):
    """build_model and load_model give the channels-last layout (faster on CPU); outputs,
    input gradients and a save/load round trip must not notice."""
    shape = (3, 32, 32)
    spec = {"arch": arch, "input_shape": list(shape), "num_classes": 5, "options": dict(SMALL[arch])}
    torch.manual_seed(0)
    built = build_model(arch, shape, 5, **SMALL[arch]).eval()
    save_model(tmp_path / "m", built, spec)
    model = built.to(memory_format=torch.contiguous_format)  # the NCHW reference
    loaded, _ = load_model(tmp_path / "m")
    convs = [m.weight for m in loaded.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert not any(w.is_contiguous() for w in convs if w.shape[1] > 1 and w.shape[2] > 1)  # 1x1 ones are both
    x = torch.rand(6, *shape, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    torch.testing.assert_close(loaded(x2), model(x), rtol=1e-5, atol=1e-5)
    g, = torch.autograd.grad(model(x).logsumexp(1).sum(), x)
    g2, = torch.autograd.grad(loaded(x2).logsumexp(1).sum(), x2)
    torch.testing.assert_close(g2.flatten(1), g.flatten(1), rtol=1e-4, atol=1e-6)
    save_model(tmp_path / "again", loaded, spec)
    torch.testing.assert_close(load_model(tmp_path / "again")[0](x2), loaded(x2))
