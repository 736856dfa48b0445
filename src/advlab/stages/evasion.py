"""Stage ``evasion@<model>``: every attack of ``evasion.attacks`` on one trained model
(SPEC §2), plus robust accuracy against ε (PGD, L∞) for the report's curves; the work is
:func:`advlab.study.evasion.attack_model`.

Writes ``results/evasion/attacks/<model>.json`` (one summary per attack: clean and robust
accuracy, success rate, norms, queries, seconds, samples/s; a composite attack such as
AutoAttack adds ``components``, the samples each component broke first), ``<model>_eps.csv``
(the ε sweep), ``<model>_components.csv`` (that per-component breakdown, one row per attack
and outcome; only a header when no composite attack ran) and ``<model>_adv.npz`` (clean
inputs, adversarial inputs and predictions per attack, and ``<attack>_component`` per sample
for a composite attack; the detection stage and the report's image grid read it).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from advlab.io import write_csv, write_json, write_npz
from advlab.stages.common import family, load_params, require, resolve_device, stage
from advlab.study.evasion import attack_model, component_table

OUT = Path("results/evasion/attacks")


@stage
def main(name: str) -> None:
    p = load_params()
    ev = family(p, "evasion")
    require(name, ev.models, "evasion.models")
    device = resolve_device(p.device)
    t0 = time.perf_counter()
    summary, sweep, arrays = attack_model(p, name, device)
    write_npz(OUT / f"{name}_adv.npz", **arrays)
    write_csv(OUT / f"{name}_eps.csv", sweep)
    write_csv(OUT / f"{name}_components.csv", component_table(summary))
    write_json(OUT / f"{name}.json", {**summary, "stage_seconds": time.perf_counter() - t0})
    print(f"{name}: robust accuracy vs eps {dict(zip(sweep.eps, sweep.robust_accuracy.round(3)))}; "
          f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
