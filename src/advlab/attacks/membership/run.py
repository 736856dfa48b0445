"""Run registered membership attacks on saved signals: the one dispatch, by registry only.

:func:`attack_runs` turns ``membership.attack`` into the runs to make (``attacks: null``
= every registered attack, in table order; a registration with ``variants`` runs once
per variant); :func:`run_attacks` checks each run has the models it needs, runs it and
prices it from the models' sidecars (copied into the signals' meta by ``mia_signals``).
"""

from __future__ import annotations

import numpy as np

from advlab.errors import AdvlabError
from advlab.metrics.privacy import AttackCost

from .registry import MIA_ATTACKS, MODEL_KINDS, MiaInputs
from .signals import Signals, check_same_plan


def registered_attacks() -> list[str]:
    """Every registered attack in table order (its ``order``, then unordered ones by name)."""
    def key(name):
        order = MIA_ATTACKS.meta(name)["order"]
        return (order is None, 0 if order is None else order, name)

    return sorted(MIA_ATTACKS.names(), key=key)


def attack_runs(settings) -> list[tuple[str, str, dict]]:
    """``(result name, attack, options)`` for each run ``settings.attacks`` asks for (None: all registered)."""
    names = registered_attacks() if settings.attacks is None else list(settings.attacks)
    runs = []
    for name in names:
        meta = MIA_ATTACKS.meta(name)
        variants = meta["variants"](settings) if meta["variants"] is not None else [(name, {})]
        runs += [(result, name, {**meta["options"], **options}) for result, options in variants]
    return runs


def _count(spec, options: dict, trained: int) -> int:
    """A model count of the metadata: an int, None (all trained) or the name of an option."""
    if spec is None:
        return trained
    return int(options[spec]) if isinstance(spec, str) else int(spec)


def signals_cost(s: Signals, idx) -> AttackCost:
    """The models ``idx`` of a signal set and their training seconds (from the models' sidecars)."""
    idx = list(idx)
    if "models" not in s.meta:  # signals saved without the models' sidecars: the count is still known
        return AttackCost(len(idx), 0.0, {"training_seconds": "unknown"})
    models = [s.meta["models"][i] for i in idx]
    return AttackCost(len(models), sum(float(mm["train_seconds"] or 0.0) for mm in models),
                      {"models": [mm["model"] for mm in models]})


def run_attacks(inp: MiaInputs) -> dict[str, tuple[np.ndarray, AttackCost]]:
    """``{result name: (scores over the pool, cost)}`` for every run of ``inp.settings``."""
    check_same_plan(inp.target, inp.shadows, inp.references, inp.target_population, inp.shadow_population,
                    inp.reference_population)
    trained = {"shadows": inp.shadows, "references": inp.references}
    out: dict[str, tuple[np.ndarray, AttackCost]] = {}
    for result, name, options in attack_runs(inp.settings):
        meta = MIA_ATTACKS.meta(name)
        try:
            for kind, spec in meta["minimum"].items():
                have, want = trained[kind].n_models, _count(spec, options, trained[kind].n_models)
                if have < want:
                    raise AdvlabError(
                        f"attack {result} needs {want} {kind[:-1]} model{'s' if want != 1 else ''} but only "
                        f"{have} were trained; raise {MODEL_KINDS[kind]} or leave {name} out of "
                        "membership.attack.attacks")
            scores = MIA_ATTACKS.get(name)(inp, **options)
            cost = AttackCost()
            for kind, spec in meta["models"].items():
                cost = cost + signals_cost(trained[kind], range(_count(spec, options, trained[kind].n_models)))
        except AdvlabError as err:
            msg = str(err)
            raise AdvlabError(msg if msg.startswith("attack ") else f"attack {result}: {msg}") from None
        out[result] = (scores, cost)
    return out
