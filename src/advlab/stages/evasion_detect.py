"""Stage ``evasion_detect``: detection AUROC of feature squeezing, Mahalanobis and LID
against each evasion attack's examples on ``evasion.detection.model`` (SPEC §2), via
:func:`advlab.study.evasion.detect`.

Negatives: the clean attack-evaluation inputs; positives: the *successful* adversarial
inputs of each attack (a failed attack leaves a point that is not adversarial).
Detectors are fitted on clean validation data. Writes
``results/evasion/detection.json`` and ``detection.csv``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from advlab.errors import AdvlabError
from advlab.io import read_npz, write_csv, write_json
from advlab.stages.common import family, load_params, resolve_device, stage
from advlab.study.evasion import detect

RESULTS = Path("results/evasion")


@stage
def main() -> None:
    p = load_params()
    d = family(p, "evasion").detection
    device = resolve_device(p.device)
    t0 = time.perf_counter()
    path = RESULTS / "attacks" / f"{d.model}_adv.npz"
    if not path.is_file():
        raise AdvlabError(f"{path} is missing: evasion.detection.model must be in evasion.models "
                          f"(run `dvc repro evasion@{d.model}`)")
    rows = detect(p, read_npz(path), device)
    frame = pd.DataFrame(rows)
    write_csv(RESULTS / "detection.csv", frame)
    write_json(RESULTS / "detection.json", {"model": d.model, "auroc": {f"{r['detector']}/{r['attack']}": r["auroc"]
                                                                          for r in rows},
                                            "stage_seconds": time.perf_counter() - t0})
    print(frame.pivot(index="detector", columns="attack", values="auroc").round(3).to_string())


if __name__ == "__main__":
    sys.exit(main())
