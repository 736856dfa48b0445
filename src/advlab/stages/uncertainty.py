"""Stages of the uncertainty family (SPEC §4; the study is :mod:`advlab.study.uncertainty`).

* ``ace_<estimator>@<model>`` (estimators softmax, mc_dropout, selectivenet) and
  ``ace_ensemble``: ``python -m advlab.stages.uncertainty <estimator> [<model>]``, one ACE
  case; exits 2 if an attack changed a prediction.
* ``ace_member@<model>``: ``python -m advlab.stages.uncertainty member <model>``, one
  ensemble member's softmax metrics and checkpoint hash, the link ``ace_ensemble`` depends
  on (DVC cannot list a params list in ``deps``).

Outputs under ``results/uncertainty/``: ``ace/<case>.json`` (metrics), ``ace/<case>_sweep.csv``
(one row per mode × ε), ``ace/<case>_rc.csv`` (risk–coverage curves), ``ace/<case>.npz``
(per-sample confidences before/after and the report's gallery images), ``members/<model>.json``.
"""

from __future__ import annotations

import sys
import time

import torch

from advlab.data.prepared import load_prepared
from advlab.errors import AdvlabError
from advlab.io import write_csv, write_json, write_npz
from advlab.models.checkpoint import load_trained
from advlab.models.registry import ESTIMATORS
from advlab.stages.common import family, load_params, require, resolve_device, stage
from advlab.study import uncertainty as study


def member(name: str) -> None:
    p = load_params()
    u = family(p, "uncertainty")
    require(name, u.ensemble, "uncertainty.ensemble")
    device = resolve_device(p.device)
    ds, plan = load_prepared()
    _, x, y = study.eval_set(u, ds, plan)
    record = study.member_record(name, load_trained(name, plan.hash, device)[0], x, y, u, device)
    write_json(study.RESULTS / "members" / f"{name}.json", record)
    print(f"ensemble member {name}: accuracy {record['accuracy']:.4f}, AUROC {record['auroc']:.4f}")


def ace(kind: str, names: list[str]) -> None:
    started = time.perf_counter()
    p = load_params()
    u = family(p, "uncertainty")
    device = resolve_device(p.device)
    torch.manual_seed(p.seed)
    ds, plan = load_prepared()
    idx, x, y = study.eval_set(u, ds, plan)
    models = [load_trained(n, plan.hash, device)[0] for n in names]
    if ESTIMATORS.meta(kind).get("ensemble"):
        study.check_member_links(names)
    est = study.estimator(kind, models, names, u, p.seed).to(device).eval()
    proxy = load_trained(u.proxy, plan.hash, device)[0] if u.run.black_box else None
    case = study.run_case(kind, names, est, x, y, idx, u, proxy, device, p.seed, started)
    folder = study.RESULTS / "ace"
    write_csv(folder / f"{case.name}_sweep.csv", case.sweep)
    write_csv(folder / f"{case.name}_rc.csv", case.curves)
    write_npz(folder / f"{case.name}.npz", **case.arrays)
    write_json(folder / f"{case.name}.json", case.record)


@stage
def main(kind: str, name: str | None = None) -> None:
    if kind == "member":
        if name is None:
            raise AdvlabError("usage: python -m advlab.stages.uncertainty member <model>")
        return member(name)
    u = family(load_params(), "uncertainty")
    names = study.models_of(u, kind)
    if ESTIMATORS.meta(kind).get("ensemble"):
        return ace(kind, list(names))
    require(name, names, f"uncertainty.{kind}")
    ace(kind, [name])


if __name__ == "__main__":
    sys.exit(main())
