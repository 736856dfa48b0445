"""The membership-attack registry (a leaf: it imports none of the attacks it registers).

Every attack registers itself in its own module of :mod:`advlab.attacks.membership`
(the package imports every module in it, so a new file is all a new attack needs)::

    register("loss", run_loss, signals=("target",), order=10)

``run(inputs, **options) -> scores`` takes the saved signals (:class:`MiaInputs`) and
returns one score per target-pool example, higher = more likely a member. The
metadata says what the attack needs and what it costs:

* ``signals``: the saved signal sets it reads: ``target``, ``shadows``,
  ``references``, ``population`` (RMIA's population points, for each model);
* ``models``: the models the attacker trains that it uses, ``{kind: count}`` with
  ``kind`` in :data:`MODEL_KINDS`; ``count`` an int (the first ``count``), ``None``
  (all trained) or the name of one of its options that holds the count. Its cost is
  these models and their training seconds; an attack with no models costs nothing;
* ``minimum``: the least number of models of each kind it can run with, given like
  ``models`` (default: the counts of ``models``, 1 for ``None``);
* ``queries``: ``"identity"`` (one query of the target per example) or ``"all"``
  (every saved query);
* ``order``: where it sits in tables (lower first; unordered attacks come last, by name);
* ``variants``: ``variants(settings) -> [(result name, options)]`` when one
  registration runs several times under settings-dependent options (RMIA offline once
  per count of reference models); default: once, under its own name;
* every other keyword is a fixed option passed to ``run``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from advlab.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from .signals import Signals

MIA_ATTACKS = Registry("membership attack", package="advlab.attacks.membership")

#: the models an attacker trains, with the params key that sets how many
MODEL_KINDS = {"shadows": "split.shadow_models", "references": "membership.references"}
SIGNAL_SETS = ("target", "shadows", "references", "population")
QUERIES = ("identity", "all")


@dataclass
class MiaInputs:
    """Everything a membership attack may read: saved signals over one plan, its settings and seed.

    ``target`` holds one model on the MIA pool; ``shadows`` / ``references`` the models the
    attacker trained on the same pool; the ``*_population`` sets the same models on RMIA's
    population points. ``settings`` is ``membership.attack``.
    """

    target: "Signals"
    shadows: "Signals"
    references: "Signals"
    target_population: "Signals"
    shadow_population: "Signals"
    reference_population: "Signals"
    settings: Any
    seed: int = 0

    @property
    def target_logits(self):
        return self.target.logits[0]

    @property
    def labels(self):
        return self.target.labels


def register(name: str, run: Callable, *, signals, models: dict | None = None, minimum: dict | None = None,
             queries: str = "identity", order: float | None = None,
             variants: Callable[[Any], list[tuple[str, dict]]] | None = None, **options) -> Callable:
    """Register a membership attack ``name`` (see the module docstring); returns ``run``."""
    models = dict(models or {})
    bad = [k for k in models if k not in MODEL_KINDS] + [s for s in signals if s not in SIGNAL_SETS]
    if bad or queries not in QUERIES:
        raise ValueError(f"membership attack {name!r}: unknown model kind / signal set / queries {bad or queries!r}")
    if minimum is None:
        minimum = {k: (1 if n is None else n) for k, n in models.items()}
    MIA_ATTACKS.register(name, run, signals=tuple(signals), models=models, minimum=dict(minimum), queries=queries,
                         order=order, variants=variants, options=options)
    return run
