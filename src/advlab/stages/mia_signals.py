"""Stage ``mia_signals``: query every saved model of the membership family once and save
its logits (Carlini et al. 2022, ``inference.py``; ML Privacy Meter), so every attack
re-runs in seconds from files.

Per group, ``results/membership/signals/<group>/pool.{npz,json}`` holds the logits
``(M, P, Q, K)`` on the MIA pool under each of LiRA's queries (``membership.queries``; null:
the recipe's augmentations, :func:`advlab.study.membership.queries`) with the keep
matrix (shadows: the plan's; references: all False; a target: its members), with
``<group>`` = ``shadows``, ``references`` or ``target_<variant>``, and
``population.{npz,json}`` the same on RMIA's population points (all non-members).
The sidecar meta carries the pool hash and each model's training cost, read from the
model sidecars. The work is :func:`advlab.study.membership.signals.save_signals`.
"""

from __future__ import annotations

import sys

from advlab.data.prepared import load_prepared
from advlab.stages.common import load_params, resolve_device, stage
from advlab.study import membership as mia
from advlab.study.membership import signals


@stage
def main() -> None:
    p = load_params()
    m = mia.settings(p)
    device = resolve_device(p.device)
    ds, plan = load_prepared()
    signals.save_signals(m, mia.queries(p), ds, plan, mia.mia_data(plan, m), device)


if __name__ == "__main__":
    sys.exit(main())
