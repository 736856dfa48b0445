"""Stage ``evasion_certify@<model>``: randomized smoothing CERTIFY (Cohen et al. 2019) of a
noise-trained model on the attack-evaluation subset; certified accuracy against L2 radius
(:func:`advlab.study.evasion.certify_model`).

Writes ``results/evasion/certify/<model>.json`` and ``<model>_curve.csv`` (radius,
certified accuracy).
"""

from __future__ import annotations

import sys
from pathlib import Path

from advlab.errors import AdvlabError
from advlab.io import write_csv, write_json
from advlab.stages.common import family, load_params, resolve_device, stage
from advlab.study.evasion import certify_model

OUT = Path("results/evasion/certify")


@stage
def main(name: str) -> None:
    p = load_params()
    c = family(p, "evasion").certify
    if name not in c.models:
        raise AdvlabError(f"evasion_certify: model {name!r} is not under evasion.certify.models "
                          f"(have {', '.join(c.models) or 'none'})")
    metrics, curve = certify_model(p, name, resolve_device(p.device))
    write_csv(OUT / f"{name}_curve.csv", curve)
    write_json(OUT / f"{name}.json", metrics)
    print(f"{name} (sigma {metrics['sigma']}): certified accuracy {metrics['certified_accuracy']}, "
          f"{metrics['seconds']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
