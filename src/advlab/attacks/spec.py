"""The engine's search registry (a leaf module): :class:`AttackSpec`, :data:`ATTACKS`,
:class:`SearchContext` and the parameter validators the specs use.

A search is registered next to its implementation, as one spec carrying its own search
function (timm's pattern):

    @register_attack(AttackSpec("fgsm", "white-box", {"eot_samples": 1},
                                {"eot_samples": positive_int("eot_samples", 1)}))
    def _fgsm(c: SearchContext) -> torch.Tensor:
        return fgsm(c.oracle, c.objective, c.x, c.s, c.ball, eot_samples=c.p["eot_samples"])

The engine (:func:`advlab.attacks.registry.run_attack`) validates the parameters against
the spec, prepares the oracle, objective state and ε-ball, calls ``spec.search(context)``
and enforces the contract on the returned ``x_adv``. Adding a search = one module (or
function) with its registration, imported by :mod:`advlab.attacks`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch
from torch import nn

from advlab.attacks.constraints import NORMS, Ball
from advlab.attacks.objectives import objective_names
from advlab.errors import check
from advlab.registry import Registry

#: every engine search, by name (filled when :mod:`advlab.attacks` is imported)
ATTACKS = Registry("attack", package="advlab.attacks")


def positive_int(name, lo):
    def f(v):
        check(isinstance(v, int) and not isinstance(v, bool) and v >= lo,
              f"{name}={v!r} is not allowed: it must be an integer ≥ {lo}")
    return f


def positive(name, hi=math.inf, hi_closed=True):
    def f(v):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and (v <= hi if hi_closed else v < hi)
        check(ok, f"{name}={v!r} is not allowed: it must be a number in (0, {hi}{']' if hi_closed else ')'}")
    return f


def nonnegative(name):
    def f(v):
        check(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
              f"{name}={v!r} is not allowed: it must be a number ≥ 0")
    return f


def boolean(name):
    def f(v):
        check(isinstance(v, bool), f"{name}={v!r} is not allowed: it must be True or False")
    return f


def module(name, optional=False):
    def f(v):
        check((optional and v is None) or isinstance(v, nn.Module),
              f"{name}={type(v).__name__} is not allowed: it must be a torch.nn.Module"
              + (" or None" if optional else ""))
    return f


@dataclass(frozen=True)
class SearchContext:
    """What a search receives: the checked parameters ``p``, the target ``oracle``, the
    objective and its prepared state ``s``, the clean batch ``(x, y)``, the ε-ball, the
    attack's seeded generator and the clean log-probabilities / uncertainty scores.

    ``extras``: per-sample tensors (batch first) a search may add for the result (e.g.
    AutoAttack's ``component``); they become :attr:`AttackResult.extras`."""

    p: dict
    oracle: Any
    objective: Any
    x: torch.Tensor
    y: torch.Tensor
    s: dict
    ball: Ball
    gen: torch.Generator
    logp0: torch.Tensor
    kappa0: Any
    extras: dict = field(default_factory=dict)

    def pick(self, *keys: str) -> dict:
        """``{k: p[k]}`` for the given parameter names."""
        return {k: self.p[k] for k in keys}


@dataclass(frozen=True)
class AttackSpec:
    """One registered search: its defaults, validators, allowed norms and objectives, and
    the search function ``search(context: SearchContext) -> x_adv``.

    ``objectives=None`` allows every registered objective (in registration order; the
    first is the default objective)."""

    name: str
    threat: str
    defaults: dict
    validators: dict[str, Callable]
    norms: tuple = NORMS
    objectives: tuple | None = None
    bounded: bool = True
    doc: str = ""
    search: Callable[[SearchContext], torch.Tensor] | None = field(default=None, compare=False)

    def allowed_objectives(self) -> tuple:
        return objective_names() if self.objectives is None else tuple(self.objectives)


def register_attack(spec: AttackSpec) -> Callable:
    """Decorator: register ``spec`` with the decorated function as its search."""

    def add(fn: Callable[[SearchContext], torch.Tensor]):
        ATTACKS.register(spec.name, replace(spec, search=fn))
        return fn

    return add
