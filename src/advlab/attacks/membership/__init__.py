"""Membership inference attacks on saved signals (SPEC §5).

Every attack takes saved logits (see :mod:`.signals`) and returns one score per
target-pool example, higher = more likely a member; :mod:`advlab.metrics.privacy`
turns scores into ROC, AUC and TPR@FPR. Each attack registers itself in
:data:`.registry.MIA_ATTACKS` from its own module; this package imports every module
in it, so adding an attack is adding one file.
"""

from advlab.registry import import_submodules

from ._common import cross_entropy, lira_phi
from .ldc import ldc_classifier, ldc_features, ldc_mia_attack, neighbourhood_fraction
from .lira import lira_attack
from .loss import loss_attack
from .ml_leaks import ml_leaks_attack, top_posteriors
from .registry import MIA_ATTACKS, MiaInputs
from .rmia import rmia_attack
from .run import attack_runs, registered_attacks, run_attacks
from .signals import (
    DEFAULT_QUERIES,
    Signals,
    apply_query,
    check_same_plan,
    compute_logits,
    compute_signals,
    concat_models,
    query_problem,
    training_queries,
)
from .watson import watson_attack

import_submodules(__name__, __path__)  # every attack in its own file registers itself on import

__all__ = [
    "DEFAULT_QUERIES", "MIA_ATTACKS", "MiaInputs", "Signals", "apply_query", "attack_runs", "check_same_plan",
    "compute_logits", "compute_signals", "concat_models", "cross_entropy", "ldc_classifier", "ldc_features",
    "ldc_mia_attack", "lira_attack", "lira_phi", "loss_attack", "ml_leaks_attack", "neighbourhood_fraction",
    "query_problem", "registered_attacks", "rmia_attack", "run_attacks", "top_posteriors", "training_queries",
    "watson_attack",
]
