"""The attack engine: objective × search × constraint × estimator (DESIGN.md).

Entry point: :func:`run_attack` (``name`` in :data:`ATTACKS`), which returns an
:class:`AttackResult`. Objectives are in :mod:`.objectives`, constraints in
:mod:`.constraints`, searches in :mod:`.whitebox` (FGSM, PGD, CW, transfer),
:mod:`.square`, :mod:`.decision` (HopSkipJump) and :mod:`.ace`; EOT/BPDA helpers in
:mod:`.gradient`.
"""

from advlab.attacks.gradient import BPDA, straight_through
from advlab.attacks.objectives import OBJECTIVES, make_objective
from advlab.attacks.registry import ATTACKS, attack_names, run_attack
from advlab.attacks.result import AttackResult

__all__ = ["run_attack", "attack_names", "ATTACKS", "OBJECTIVES", "make_objective", "AttackResult",
           "BPDA", "straight_through"]
