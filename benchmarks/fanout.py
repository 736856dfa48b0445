"""Fan-out: models per hour for K shadow models of the membership recipe, trained one after
another in one process (``compute.backend: local``) against Ray tasks (``backend: ray``),
the same jobs, in one run.

The shadows are the membership family's own (:func:`advlab.study.membership.train.train_kind`
on the profile's recipe and pool, K = ``--shadows``); the data are prepared in a temporary
folder from ``data.root``. The Ray cluster is started, and each of its worker processes
imports torch and the job's code, before the clock of its run starts (the local run's
process has imported them too); that start-up is printed separately, because a stage pays
it once whatever K is, and the end-to-end figure adds it back.

Run: ``uv run python benchmarks/fanout.py [--shadows 8 --workers 2 --local-threads 2 --ray-threads 1]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
import yaml

from advlab import profiles
from advlab.data.prepared import load_prepared
from advlab.params import validate
from advlab.stages import prepare
from advlab.study import membership as mia
from advlab.study.membership.train import recipe, train_kind


def run(raw: dict, compute: dict) -> tuple[float, dict]:
    raw = {**raw, "compute": compute}
    Path("params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    p = validate(raw)
    ds, plan = load_prepared()
    shutil.rmtree("models", ignore_errors=True)
    t0 = time.perf_counter()
    summary = train_kind("shadows", p, ds, plan, mia.mia_data(plan, p.membership), torch.device("cpu"))
    return time.perf_counter() - t0, summary


def _import_job_code() -> None:
    import advlab.study.membership.train  # noqa: F401  (torch, the model zoo, the training loop)

    time.sleep(1.0)  # hold this worker so the next warm-up task lands on another one


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--shadows", type=int, default=8, help="K (even)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--local-threads", type=int, default=2)
    ap.add_argument("--ray-threads", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("CI", "true")  # no progress bars
    raw = profiles.resolve(args.profile)
    raw["data"] = {**raw.get("data", {}), "root": str(Path(raw.get("data", {}).get("root", "data/raw")).resolve())}
    raw["split"] = {**raw["split"], "shadow_models": args.shadows}
    raw["device"] = "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        Path("params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        assert prepare.main([]) == 0
        p = validate(raw)
        rc = recipe(p)
        print(f"K = {args.shadows} shadows of the {args.profile} profile's membership recipe ({rc.arch} "
              f"{rc.options}, {rc.train.epochs} epochs, pool {p.membership.pool}: half of it each), CPU, "
              f"{os.cpu_count()} cores")
        local_s, local = run(raw, {"backend": "local", "threads_per_worker": args.local_threads})

        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=args.workers * args.ray_threads, include_dashboard=False, logging_level=logging.WARNING)
        warm = ray.remote(_import_job_code).options(num_cpus=args.ray_threads)
        ray.get([warm.remote() for _ in range(args.workers)])  # each worker imports torch and the job's code once
        start_s = time.perf_counter() - t0
        try:
            ray_s, remote = run(raw, {"backend": "ray", "workers": args.workers, "threads_per_worker": args.ray_threads})
        finally:
            ray.shutdown()
    k = args.shadows
    rows = [(f"local, 1 process × {args.local_threads} threads", local_s, 0.0),
            (f"ray, {args.workers} workers × {args.ray_threads} thread(s)", ray_s, start_s)]
    print(f"{'backend':<34} {'train s':>8} {'models/h':>9} {'+ start s':>9} {'models/h incl. start':>21}")
    for name, s, start in rows:
        print(f"{name:<34} {s:8.1f} {3600 * k / s:9.0f} {start:9.1f} {3600 * k / (s + start):21.0f}")
    print(f"speed-up, ray ÷ local: {local_s / ray_s:.2f}× (training), {local_s / (ray_s + start_s):.2f}× "
          f"(with the cluster start)")
    acc = [s["mean_test_accuracy"] for s in (local, remote)]
    print(f"mean shadow test accuracy: local {acc[0]:.4f}, ray {acc[1]:.4f} (different thread counts give "
          "different float sums, so the weights differ; equal thread counts give equal weights)")


if __name__ == "__main__":
    main()
