"""The engine's entry point: ``run_attack(name, model, x, y, **params)``.

Every parameter is checked before any work (ART's habit): an unknown attack, objective
or parameter name, a bad ε, norm, threshold, step count... raises
:class:`~advlab.errors.AdvlabError` naming the parameter, its value and what is allowed.
The model is switched to eval mode (and its weights frozen) here, in one place, and
restored afterwards; an estimator that needs stochastic dropout manages that itself.

After the search the engine evaluates ``x_adv`` once on the whole batch and enforces
the contract for every attack alike:
* label-preserving objectives (calibration, ACE): any sample whose prediction is not
  ``ŷ`` is reverted to ``x``, so accuracy after equals accuracy before, exactly;
* unbounded searches (CW, HopSkipJump): a sample outside the ε-ball is reverted to ``x``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import nn

from advlab.attacks.constraints import Ball, bcast, flat_norm
from advlab.attacks.gradient import BPDAView, Oracle
from advlab.attacks.objectives import OBJECTIVES, make_objective, objective_params
from advlab.attacks.result import AttackResult
from advlab.attacks.spec import ATTACKS, AttackSpec, SearchContext, boolean, positive, positive_int
from advlab.errors import check

_COMMON = {"eps": 8 / 255, "norm": "linf", "objective": "ce", "seed": 0, "bpda": False}


def _default_objective(spec: AttackSpec) -> str:
    return spec.allowed_objectives()[0]


def _validate(name: str, model, x, y, params: dict) -> tuple[AttackSpec, dict, dict]:
    check(name in ATTACKS, f"attack={name!r} is unknown; allowed: {ATTACKS.names()}")
    spec = ATTACKS.get(name)
    obj_keys = objective_params()
    allowed = set(_COMMON) | set(spec.defaults) | obj_keys
    unknown = sorted(set(params) - allowed)
    check(not unknown, f"parameter(s) {unknown} are unknown for attack {name!r}; allowed: {sorted(allowed)}")
    p = {**_COMMON, "objective": _default_objective(spec), **spec.defaults, **params}
    obj_params = {k: p.pop(k) for k in obj_keys if k in p}

    check(isinstance(model, nn.Module), f"model={type(model).__name__} is not allowed: it must be a torch.nn.Module")
    check(isinstance(x, torch.Tensor) and x.dim() == 4 and x.is_floating_point(),
          f"x with shape {tuple(getattr(x, 'shape', ()))} is not allowed: it must be a float tensor (B, C, H, W)")
    check(len(x) > 0, "x is empty: the batch must hold at least one image")
    lo, hi = float(x.min()), float(x.max())
    check(lo >= 0.0 and hi <= 1.0, f"x has values in [{lo:.4g}, {hi:.4g}]: images must lie in [0, 1] (un-normalised)")
    check(isinstance(y, torch.Tensor) and y.dim() == 1 and len(y) == len(x) and not y.is_floating_point(),
          f"y with shape {tuple(getattr(y, 'shape', ()))} is not allowed: it must be an integer tensor of shape ({len(x)},)")

    check(p["norm"] in spec.norms, f"norm={p['norm']!r} is not allowed for attack {name!r}; allowed: {list(spec.norms)}")
    eps_max = 1.0 if p["norm"] == "linf" else math.sqrt(x[0].numel())
    positive("eps", eps_max)(p["eps"])
    check(p["objective"] in OBJECTIVES, f"objective={p['objective']!r} is unknown; allowed: {OBJECTIVES.names()}")
    check(p["objective"] in spec.allowed_objectives(),
          f"objective={p['objective']!r} is not allowed for attack {name!r}; allowed: {list(spec.allowed_objectives())}")
    positive_int("seed", 0)(p["seed"])
    boolean("bpda")(p["bpda"])
    if p["bpda"]:
        check(callable(getattr(model, "bpda_forward", None)),
              f"bpda=True needs a model with a bpda_forward(x) method; {type(model).__name__} has none")
    for k, v in spec.validators.items():
        v(p[k])
    objective = make_objective(p["objective"], **obj_params)  # checks thresholds
    return spec, p, {"objective": objective, "objective_params": obj_params}


@contextmanager
def _eval_mode(*models):
    """Eval mode and frozen weights for the duration of an attack (restored afterwards)."""
    # every submodule's own flag: a wrapper built in train mode (nn.Module's default) around a
    # model in eval mode must not leave that model in train mode afterwards
    saved = [(m, [(s, s.training) for s in m.modules()], [q.requires_grad for q in m.parameters()])
             for m in models if m is not None]
    try:
        for m, _, _ in saved:
            m.eval()
            m.requires_grad_(False)
        yield
    finally:
        for m, modes, flags in saved:
            for s, training in modes:
                s.training = training
            for q, f in zip(m.parameters(), flags):
                q.requires_grad_(f)


def run_attack(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int | None = None,
               device=None, **params) -> AttackResult:
    """Run the attack ``name`` on ``model`` for ``(x, y)``; returns one :class:`AttackResult`.

    The one batching rule of the study: with ``batch_size`` the inputs are attacked in
    chunks of that size, chunk ``b`` with seed ``seed + b``, moved to ``device`` (default:
    where ``x`` is), and the results concatenated; every parameter is checked on the first
    chunk before any long work. ``batch_size=None`` attacks all of ``x`` at once.

    Common parameters: ``eps`` (default 8/255), ``norm`` ("linf"/"l2"), ``objective``
    (see :data:`advlab.attacks.objectives.OBJECTIVES`; thresholds ``tau_u``, ``tau_o``,
    ``tolerance``), ``seed``, ``bpda`` (attack the model's ``bpda_forward``). The
    attack-specific parameters and defaults are in the specs of
    :data:`~advlab.attacks.spec.ATTACKS`; the search is ``spec.search``.
    """
    if batch_size is not None:
        check(isinstance(batch_size, int) and batch_size >= 1, f"batch_size={batch_size!r}: must be an integer >= 1")
    step = len(x) if batch_size is None else batch_size
    seed = params.pop("seed", 0)
    positive_int("seed", 0)(seed)
    device = x.device if device is None else device
    return AttackResult.concat([
        _run_one(name, model, x[i:i + step].to(device), y[i:i + step].to(device), seed=seed + b, **params)
        for b, i in enumerate(range(0, max(len(x), 1), max(step, 1)))])


def _run_one(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, **params) -> AttackResult:
    spec, p, extra = _validate(name, model, x, y, params)
    objective = extra["objective"]
    others = [p.get("surrogate"), p.get("proxy")]
    with _eval_mode(model, *others):
        target_model = BPDAView(model) if p["bpda"] else model
        oracle = Oracle(target_model, len(x), x.device, objective.needs_kappa)
        gen = torch.Generator(device=x.device).manual_seed(p["seed"])
        x = x.detach()
        y = y.to(x.device)
        with torch.no_grad():
            logp0, kappa0 = oracle(x)
        k = logp0.shape[1]
        objective.validate(k)
        check(y.min() >= 0 and y.max() < k, f"y has labels in [{int(y.min())}, {int(y.max())}]: the model has K={k} classes")
        s = objective.prepare(logp0, y, kappa0, gen)
        ball = Ball(p["norm"], float(p["eps"]))
        context = SearchContext(p, oracle, objective, x, y, s, ball, gen, logp0, kappa0)
        x_adv = spec.search(context)

        with torch.no_grad():
            logp1, kappa1 = oracle.model(x_adv), None
            logp1 = torch.log_softmax(logp1, 1)
            revert = torch.zeros(len(x), dtype=torch.bool, device=x.device)
            if not spec.bounded:
                revert |= flat_norm(x_adv - x, p["norm"]) > ball.eps * (1 + 1e-6)
            if objective.label_preserving:
                revert |= logp1.argmax(1) != logp0.argmax(1)
            if revert.any():
                x_adv = torch.where(bcast(revert, x), x, x_adv)
                logp1 = torch.where(revert[:, None], logp0, logp1)
            if oracle.use_kappa:
                kappa1 = oracle.model.confidence(x_adv)
            success = objective.success(logp1, kappa1, s)
    record = {k: v for k, v in p.items() if not isinstance(v, nn.Module)}
    return AttackResult.build(x, x_adv, success, oracle.queries, y, logp0, logp1,
                              attack=spec.name, objective=objective.name, params=record, extras=context.extras)


def attack_names() -> list[str]:
    """Registered attack names."""
    return ATTACKS.names()


__all__ = ["run_attack", "ATTACKS", "AttackSpec", "attack_names"]
