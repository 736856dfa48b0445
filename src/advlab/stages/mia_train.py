"""Stage ``mia_train@<kind>``: train the membership family's models of one kind (SPEC §5).

* ``shadows``: the K shadow models (K = the split plan's ``shadow_keep`` rows), one
  after another; each model's epoch checkpoints stay until all K are saved, so a killed
  run resumes inside the model it was training and retrains none of the finished ones.
* ``references``: ``membership.references`` models on disjoint auxiliary draws.
* ``targets``: every variant of ``membership.targets``; the output persists and a variant
  whose sidecar records exactly its current settings is reused, not retrained.

The work is :func:`advlab.study.membership.train.train_kind`.
"""

from __future__ import annotations

import sys

from advlab.data.prepared import load_prepared
from advlab.io import write_json
from advlab.stages.common import load_params, resolve_device, stage
from advlab.study import membership as mia
from advlab.study.membership import train


@stage
def main(kind: str) -> None:
    p = load_params()
    m = mia.settings(p)
    device = resolve_device(p.device)
    ds, plan = load_prepared()
    data = mia.mia_data(plan, m)
    write_json(mia.RESULTS / "train" / f"{kind}.json", train.train_kind(kind, p, ds, plan, data, device))


if __name__ == "__main__":
    sys.exit(main())
