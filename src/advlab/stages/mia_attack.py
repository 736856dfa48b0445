"""Stage ``mia_attack``: every registered membership attack (``membership.attack.attacks``;
null = all of :data:`advlab.attacks.membership.MIA_ATTACKS`) on every target variant, from
saved signals only (SPEC §5), with ROC, AUC, TPR@FPR (and the number of non-members
beside them), per-class TPR and each attack's cost (models the attacker trained and
their training seconds, from the models' sidecars).

Writes ``results/membership/attack/<variant>.json`` and ``<variant>_scores.npz``,
``results/membership/roc.csv`` and ``results/membership/metrics.json``. The work is
:func:`advlab.study.membership.attack.attack_target`.
"""

from __future__ import annotations

import shutil
import sys

import pandas as pd

from advlab.data.prepared import load_prepared
from advlab.io import write_csv, write_json, write_npz
from advlab.progress import progress
from advlab.stages.common import load_params, stage
from advlab.study import membership as mia
from advlab.study.membership import attack


@stage
def main() -> None:
    m = mia.settings(load_params())
    _, plan = load_prepared()
    data = mia.mia_data(plan, m)
    shadows, s_pop = attack.load_signals("shadows", plan.hash, data.pool_hash)
    refs, r_pop = attack.load_signals("references", plan.hash, data.pool_hash)
    out = mia.RESULTS / "attack"
    shutil.rmtree(out, ignore_errors=True)
    summary, curves = {}, []
    for variant in progress(m.targets, desc="mia_attack", unit="target"):
        res = attack.attack_target(variant, m, plan, data, (shadows, refs, s_pop, r_pop))
        write_json(out / f"{variant}.json", res.info)
        write_npz(out / f"{variant}_scores.npz", **res.scores)
        curves.append(res.curves)
        summary[variant] = attack.summary_row(res.info)
    write_csv(mia.RESULTS / "roc.csv", pd.concat(curves, ignore_index=True))
    write_json(mia.RESULTS / "metrics.json", summary)


if __name__ == "__main__":
    sys.exit(main())
