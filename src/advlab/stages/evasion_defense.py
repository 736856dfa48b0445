"""Stage ``evasion_defense@<defense>``: an inference-time defense in front of
``evasion.defense_model``, attacked by a naive and by an adaptive PGD (SPEC §2;
Athalye et al. 2018), via :func:`advlab.study.evasion.defense_eval`.

* squeezers (bit depth, median, JPEG): naive PGD differentiates through the transform
  (zero or no gradient: the defense masks gradients); adaptive PGD uses BPDA
  (straight-through gradient, the forward value unchanged);
* random resize-and-pad: naive PGD uses one random draw per gradient; adaptive PGD
  averages ``evasion.eot_samples`` draws per step (EOT).

Both are evaluated on the defended model's real forward pass. Writes
``results/evasion/defenses/<defense>.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from advlab.errors import AdvlabError
from advlab.io import write_json
from advlab.stages.common import family, load_params, resolve_device, stage
from advlab.study.evasion import defense_eval

OUT = Path("results/evasion/defenses")


@stage
def main(defense: str) -> None:
    p = load_params()
    ev = family(p, "evasion")
    if defense not in ev.defenses:
        raise AdvlabError(f"evasion_defense: defense {defense!r} does not exist under evasion.defenses "
                          f"(have {', '.join(ev.defenses) or 'none'})")
    device = resolve_device(p.device)
    t0 = time.perf_counter()
    out = defense_eval(p, defense, device)
    out["stage_seconds"] = time.perf_counter() - t0
    write_json(OUT / f"{defense}.json", out)
    print(f"{defense}: clean {out['clean_accuracy_defended']:.3f}; robust accuracy naive "
          f"{out['naive']['robust_accuracy']:.3f} vs adaptive {out['adaptive']['robust_accuracy']:.3f} "
          f"(undefended {out['undefended']['robust_accuracy']:.3f}); {out['stage_seconds']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
