import warnings

import pytest
import torch

from advlab.errors import AdvlabError
from advlab.models.zoo import build_model
from advlab.params import TrainParams
from advlab.training.dp import prepare_for_opacus


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 8, 8)])
def test_opacus_per_sample_gradients_of_a_prepared_zoo_model_equal_autograd(shape):
    """DP-SGD clips per-sample gradients: on the model as fit_private hands it to Opacus,
    each one must equal the gradient of that example's loss alone."""
    from opacus import GradSampleModule

    torch.manual_seed(0)
    model = prepare_for_opacus(build_model("small_cnn", shape, 5, width=4, hidden=16, norm="group")).train()
    x, y = torch.rand(6, *shape), torch.randint(0, 5, (6,))
    reference = []
    for i in range(len(x)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1], reduction="sum").backward()
        reference.append({n: p.grad.clone() for n, p in model.named_parameters()})
    model.zero_grad()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapped = GradSampleModule(model, loss_reduction="sum")
        torch.nn.functional.cross_entropy(wrapped(x), y, reduction="sum").backward()
    for n, p in model.named_parameters():
        for i in range(len(x)):
            torch.testing.assert_close(p.grad_sample[i], reference[i][n], rtol=1e-4, atol=1e-5, msg=f"{n}, example {i}")
    wrapped._close()


def test_fit_private_spends_its_epsilon_and_refuses_batchnorm():
    from advlab.training.dp import fit_private
    from advlab.training.objectives import make_objective

    torch.manual_seed(0)
    x, y = torch.rand(256, 1, 8, 8), torch.randint(0, 10, (256,))
    cfg = TrainParams(epochs=2, batch_size=32, lr=0.01)
    model = build_model("small_cnn", (1, 8, 8), 10, width=4, hidden=8, norm="group")
    w0 = [p.detach().clone() for p in model.parameters()]
    result, spent = fit_private(model, x, y, cfg, make_objective("standard"), epsilon=4.0)
    assert len(result.history) == 2
    assert spent.delta == 1e-5 and spent.steps == 2 * 8  # δ by convention, well below 1/n (SPEC §5)
    assert 3.0 < spent.epsilon <= 4.0 + 1e-6
    from opacus.accountants.utils import get_noise_multiplier

    loose = get_noise_multiplier(target_epsilon=4.0, target_delta=1 / 256, sample_rate=32 / 256, epochs=2,
                                 accountant="rdp")
    assert spent.noise_multiplier > loose  # the smaller δ costs more noise than the old 1/n
    assert any(not torch.equal(a, b) for a, b in zip(w0, model.parameters()))
    out = model(x[:4])  # Opacus' hooks are gone: the plain model still runs
    assert out.shape == (4, 10)
    bn = build_model("small_cnn", (1, 8, 8), 10, width=4, hidden=8, norm="batch")
    with pytest.raises(AdvlabError, match=r"norm: group"):
        fit_private(bn, x, y, cfg, make_objective("standard"), epsilon=1.0)


def test_fit_private_refuses_bf16():
    from advlab.training.dp import fit_private
    from advlab.training.objectives import make_objective

    x, y = torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,))
    model = build_model("small_cnn", (1, 8, 8), 10, width=4, hidden=8, norm="group")
    with pytest.raises(AdvlabError, match="precision: fp32"):
        fit_private(model, x, y, TrainParams(epochs=1, batch_size=32, precision="bf16"), make_objective("standard"),
                    epsilon=1.0)
