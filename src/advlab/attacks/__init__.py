"""The attack engine: objective × search × constraint × estimator (DESIGN.md).

Entry point: :func:`run_attack` (``name`` in :data:`ATTACKS`), which returns an
:class:`AttackResult`. Registries (leaf modules): :data:`ATTACKS` (searches, in
:mod:`.spec`; each :class:`AttackSpec` carries its search function) and
:data:`OBJECTIVES` (in :mod:`.objectives`, metadata ``family``). Constraints are in
:mod:`.constraints`; the searches, each registered next to its implementation, in
:mod:`.whitebox` (FGSM, PGD, CW, transfer), :mod:`.apgd` (APGD, APGD-T),
:mod:`.autoattack` (APGD-CE, APGD-T, Square ensemble), :mod:`.square`, :mod:`.decision`
(HopSkipJump) and :mod:`.ace`; EOT/BPDA helpers in :mod:`.gradient`. Training-set
attacks (label flipping, BadNets) are in :mod:`.poisoning`.

Adding a search: a module with its ``@register_attack(AttackSpec(...))`` function, imported
below.
"""

# every search module, imported so that its spec is registered
from advlab.attacks import ace, apgd, autoattack, decision, square, whitebox  # noqa: F401
from advlab.attacks.gradient import BPDA, straight_through
from advlab.attacks.objectives import OBJECTIVES, make_objective
from advlab.attacks.registry import attack_names, run_attack
from advlab.attacks.result import AttackResult
from advlab.attacks.spec import ATTACKS, AttackSpec, SearchContext, register_attack

__all__ = ["run_attack", "attack_names", "ATTACKS", "AttackSpec", "SearchContext", "register_attack", "OBJECTIVES",
           "make_objective", "AttackResult", "BPDA", "straight_through"]
