"""DP-SGD through the shared training loop (Abadi et al., CCS 2016, "Deep Learning with
Differential Privacy", Algorithm 1), with Opacus doing per-sample clipping and noise.

:func:`fit_private` is a thin wrapper around :func:`advlab.training.loop.fit`: Opacus'
``PrivacyEngine.make_private_with_epsilon`` wraps the model (per-sample gradients)
and the optimizer (clip to ``max_grad_norm``, add Gaussian noise calibrated so that
``cfg.epochs`` epochs of Poisson-sampled batches with rate ``q = batch_size / n``
spend ``(ε, δ)`` under the RDP accountant); the loop is told to use that optimizer
and to draw Poisson batches, so the accounting's sampling assumption holds.

Choices written down here:

* δ defaults to ``1/n`` (SPEC §5); the spent ε is recomputed at the end from the
  noise multiplier, q and the number of steps (a fresh RDP accountant), so a resumed
  run reports the same ε as an uninterrupted one;
* BatchNorm is refused (it mixes examples, so per-sample gradients do not exist):
  build the model with GroupNorm (``small_cnn`` option ``norm: group``);
* in-place activations are switched to out-of-place: Opacus' backward hooks cannot
  follow an in-place write on a hooked module's output (the weights are unchanged);
* the model is trained in the NCHW memory format, not the channels-last format the zoo
  builds: Opacus' (1.6) per-sample gradients of a convolution with channels-last weights
  are wrong (errors of 0.4 to 0.7 on the small CNN's 3x3 convolutions against per-example
  autograd), which silently cost DP-SGD 10 points of accuracy here.
  ``tests/training/test_dp.py`` checks every per-sample gradient against autograd.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, TensorDataset

from advlab.errors import AdvlabError, check
from advlab.training.loop import FitResult, fit, make_optimizer


@dataclass
class PrivacySpent:
    epsilon: float
    delta: float
    target_epsilon: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    max_grad_norm: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def check_private_trainable(model: torch.nn.Module) -> None:
    """Raise :class:`AdvlabError` naming the modules Opacus cannot train privately."""
    from opacus.validators import ModuleValidator

    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        detail = "; ".join(sorted({str(e).splitlines()[0] for e in errors}))[:400]
        raise AdvlabError(f"DP-SGD: the model has modules Opacus cannot train with per-sample gradients ({detail}); "
                          "for small_cnn set options norm: group (BatchNorm is not allowed)")


def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """ε of ``steps`` Poisson-subsampled Gaussian steps under the RDP accountant."""
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    acc.history = [(noise_multiplier, sample_rate, steps)]
    return float(acc.get_epsilon(delta))


def prepare_for_opacus(model: torch.nn.Module) -> torch.nn.Module:
    """Out-of-place activations and NCHW weights, in place (see the module docstring)."""
    for m in model.modules():
        if getattr(m, "inplace", False):
            m.inplace = False
    return model.to(memory_format=torch.contiguous_format)


def fit_private(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, cfg, objective, *, epsilon: float,
                delta: float = 1e-5, max_grad_norm: float = 1.0, seed: int = 0,
                device: str | torch.device = "cpu", val=None, resume_dir=None, resume_key: str = "",
                on_epoch_end=None, desc: str = "train dp") -> tuple[FitResult, PrivacySpent]:
    """Train ``model`` with DP-SGD at ``(epsilon, delta)`` through :func:`fit`.

    ``model`` is trained in place (its weights are the private model afterwards);
    returns the loop's :class:`FitResult` and the :class:`PrivacySpent`.
    """
    from opacus import PrivacyEngine

    n = len(x)
    check(n >= 2, f"DP-SGD needs at least 2 training examples; got {n}")
    check(epsilon > 0, f"DP-SGD epsilon must be > 0; got {epsilon}")
    delta = float(delta)
    check(0 < delta < 1, f"DP-SGD delta must lie in (0, 1); got {delta}")
    check(max_grad_norm > 0, f"DP-SGD max_grad_norm must be > 0; got {max_grad_norm}")
    check(cfg.batch_size <= n, f"DP-SGD batch_size {cfg.batch_size} exceeds the {n} training examples")
    check(cfg.precision == "fp32", "DP-SGD trains in fp32 only (Opacus' per-sample gradients are verified in fp32): "
          "set the DP model's train.precision: fp32")
    check_private_trainable(model)
    prepare_for_opacus(model).to(device)
    loader = DataLoader(TensorDataset(x, y), batch_size=cfg.batch_size)
    sample_rate = 1.0 / len(loader)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
        warnings.filterwarnings("ignore", message=".*Optimal order.*")
        engine = PrivacyEngine(accountant="rdp")
        private, optimizer, _ = engine.make_private_with_epsilon(
            module=model, optimizer=make_optimizer(model, cfg), data_loader=loader, target_epsilon=epsilon,
            target_delta=delta, epochs=cfg.epochs, max_grad_norm=max_grad_norm, poisson_sampling=True)

    def poisson(n_: int, _batch_size: int) -> torch.Tensor:
        # each example joins the step independently with probability q (the RDP accountant's assumption)
        return torch.nonzero(torch.rand(n_) < sample_rate).flatten()

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*full_backward_hook.*")
        result = fit(private, x, y, cfg, objective, seed=seed, device=device, val=val, resume_dir=resume_dir,
                     resume_key=resume_key, on_epoch_end=on_epoch_end, desc=desc, optimizer=optimizer,
                     batches=poisson)
    steps = cfg.epochs * len(loader)
    spent = PrivacySpent(epsilon_spent(optimizer.noise_multiplier, sample_rate, steps, delta), delta, float(epsilon),
                         float(optimizer.noise_multiplier), sample_rate, steps, float(max_grad_norm))
    private._close()  # remove Opacus' hooks: the plain model is what gets saved and attacked
    model.eval()
    return result, spent
