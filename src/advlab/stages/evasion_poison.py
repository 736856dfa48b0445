"""Stage ``evasion_poison@<kind>``: a data poisoning sweep (SPEC §2; the poisoners are
:data:`advlab.attacks.poisoning.POISONINGS`: label flipping, BadNets), each rate of
``evasion.poisoning.<kind>_rates`` training one model with
``models.<evasion.poisoning.model>``'s recipe (:func:`advlab.study.poisoning.poison_sweep`).

Reported: clean test accuracy per rate and, for the backdoor, the attack success rate.
The rate 0 run is the clean reference (same recipe, same seed). Writes
``results/evasion/poisoning/<kind>.json`` and ``<kind>.csv``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from advlab.attacks.poisoning import POISONINGS
from advlab.errors import AdvlabError
from advlab.io import write_csv, write_json
from advlab.stages.common import family, load_params, resolve_device, stage
from advlab.study.poisoning import poison_sweep

OUT = Path("results/evasion/poisoning")


@stage
def main(kind: str) -> None:
    p = load_params()
    family(p, "evasion")
    if kind not in POISONINGS:
        raise AdvlabError(f"evasion_poison: kind {kind!r} does not exist; allowed: {', '.join(POISONINGS.names())}")
    t0 = time.perf_counter()
    summary, frame = poison_sweep(p, kind, resolve_device(p.device))
    write_csv(OUT / f"{kind}.csv", frame)
    write_json(OUT / f"{kind}.json", {**summary, "stage_seconds": time.perf_counter() - t0})


if __name__ == "__main__":
    sys.exit(main())
