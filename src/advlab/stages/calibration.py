"""Calibration-attack stages (SPEC §3); the work is :mod:`advlab.study.calibration`.

``python -m advlab.stages.calibration attack <model>``
    writes ``results/calibration/attack/<model>{.json,_reliability.csv,_samples.npz}``.
``python -m advlab.stages.calibration sweep``
    writes ``results/calibration/sweep/{eps,queries}.csv`` and ``sweep.json``.
``python -m advlab.stages.calibration target <name>``
    writes ``results/calibration/targets/<name>{.json,_samples.npz}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from advlab.errors import AdvlabError
from advlab.io import write_csv, write_json, write_npz
from advlab.stages.common import family, load_params, require, resolve_device, stage
from advlab.study.calibration import attack_study, sweep_study, target_study

RESULTS = Path("results/calibration")


def attack(p, name: str) -> None:
    require(name, family(p, "calibration").models, "calibration.models")
    out = attack_study(p, name, resolve_device(p.device))
    m = out["metrics"]
    write_npz(RESULTS / "attack" / f"{name}_samples.npz", **out["arrays"])
    write_csv(RESULTS / "attack" / f"{name}_reliability.csv", out["reliability"])
    write_json(RESULTS / "attack" / f"{name}.json", m)
    print(f"calibration attack {name}: {len(m['attacks'])} attacks on {m['n']} inputs in {m['stage_seconds']:.1f} s")


def sweep(p) -> None:
    family(p, "calibration")
    out = sweep_study(p, resolve_device(p.device))
    write_csv(RESULTS / "sweep" / "eps.csv", out["eps"])
    write_csv(RESULTS / "sweep" / "queries.csv", out["queries"])
    write_json(RESULTS / "sweep" / "sweep.json", out["meta"])
    print(f"calibration sweep on {out['meta']['model']}: {len(out['eps']) + len(out['queries'])} attacks in "
          f"{out['meta']['stage_seconds']:.1f} s")


def target(p, name: str) -> None:
    require(name, family(p, "calibration").targets, "calibration.targets")
    out = target_study(p, name, resolve_device(p.device))
    m = out["metrics"]
    write_npz(RESULTS / "targets" / f"{name}_samples.npz", **out["arrays"])
    write_json(RESULTS / "targets" / f"{name}.json", m)
    worst = max(m["attacks"].values(), key=lambda r: r["ece_adv"])
    print(f"calibration target {name}: accuracy {m['clean']['accuracy']:.4f}, ECE {m['clean']['ece']:.4f}, worst "
          f"post-attack ECE {worst['ece_adv']:.4f} ({worst['objective']} {worst['search']}), {m['stage_seconds']:.1f} s")


@stage
def main(command: str, *args: str) -> None:
    p = load_params()
    if command == "attack" and len(args) == 1:
        attack(p, args[0])
    elif command == "sweep" and not args:
        sweep(p)
    elif command == "target" and len(args) == 1:
        target(p, args[0])
    else:
        raise AdvlabError(f"calibration: usage: attack <model> | sweep | target <name> (got {command} {' '.join(args)})")


if __name__ == "__main__":
    sys.exit(main())
