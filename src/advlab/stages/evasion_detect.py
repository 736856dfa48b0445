"""Stage ``evasion_detect``: detection AUROC of feature squeezing, Mahalanobis and LID
against each evasion attack's examples on ``evasion.detection.model`` (SPEC §2), via
:func:`advlab.defenses.detection_eval.evaluate_detectors`.

Negatives: the clean attack-evaluation inputs; positives: the *successful* adversarial
inputs of each attack (a failed attack leaves a point that is not adversarial).
Detectors are fitted on clean validation data. Writes
``results/evasion/detection.json`` and ``detection.csv``.
"""

from __future__ import annotations

import sys
import time

import pandas as pd
import torch

from advlab.data.prepared import load_prepared, to_tensors
from advlab.defenses.detection_eval import evaluate_detectors
from advlab.errors import AdvlabError
from advlab.io import read_npz, write_csv, write_json
from advlab.stages.common import load_params, resolve_device, stage
from advlab.stages.evasion_common import RESULTS, section, trained


@stage
def main() -> None:
    p = load_params()
    ev = section(p)
    d = ev.detection
    device = resolve_device(p.device)
    t0 = time.perf_counter()
    path = RESULTS / "attacks" / f"{d.model}_adv.npz"
    if not path.is_file():
        raise AdvlabError(f"{path} is missing: evasion.detection.model must be in evasion.models "
                          f"(run `dvc repro evasion@{d.model}`)")
    arrays = read_npz(path)
    ds, plan = load_prepared()
    model = trained(d.model, plan, device)
    x_fit, y_fit = to_tensors(ds, plan["validation"][: d.fit_size])
    x_clean = torch.from_numpy(arrays["x"])
    adversarial, masks = {}, {}
    for a in d.attacks:
        if f"{a}_x_adv" not in arrays:
            raise AdvlabError(f"evasion.detection.attacks: {a!r} was not run on {d.model} (see evasion.attacks.{a}.models)")
        adversarial[a] = torch.from_numpy(arrays[f"{a}_x_adv"])
        masks[a] = torch.from_numpy(arrays[f"{a}_success"])
    rows = evaluate_detectors(model, x_fit.to(device), y_fit, x_clean.to(device),
                              {k: v.to(device) for k, v in adversarial.items()}, d.detectors, masks,
                              squeeze_bits=d.squeeze_bits, lid_k=d.lid_k, seed=p.seed)
    frame = pd.DataFrame(rows)
    write_csv(RESULTS / "detection.csv", frame)
    write_json(RESULTS / "detection.json", {"model": d.model, "auroc": {f"{r['detector']}/{r['attack']}": r["auroc"]
                                                                          for r in rows},
                                            "stage_seconds": time.perf_counter() - t0})
    print(frame.pivot(index="detector", columns="attack", values="auroc").round(3).to_string())


if __name__ == "__main__":
    sys.exit(main())
