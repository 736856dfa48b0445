"""Start-up cost of every stage: how long ``import advlab.stages.<name>`` takes in a fresh
Python process, the price each DVC stage pays before it does any work (issue 13's goal:
≤ 4 s for every stage module on an idle machine), beside ``import torch`` alone.

    uv run python benchmarks/imports.py [--runs 3] [--no-params] [--json] [module ...]

Each module is imported ``--runs`` times, each time in a new interpreter, and the median is
printed: ``import s`` is the import statement's time, measured inside the child; ``params s``
is the time of ``load_params()`` right after it (validating ``params.yaml``, which imports the
registries the file names: what every stage does next; run from the repository root, or with
``ADVLAB_PARAMS``); ``process s`` is the child's whole wall time (interpreter start and exit
included). ``heavy`` names the large third-party packages the import loaded (``+`` those the
validation added). The child runs as the stages do (same interpreter and environment, so with
``PYTHONDONTWRITEBYTECODE`` if it is set: whatever is not compiled to bytecode yet is compiled
at every start).
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import statistics
import subprocess
import sys
import time
from importlib.util import find_spec

HEAVY = ("torch", "torchvision", "timm", "torchmetrics", "opacus", "scipy", "sklearn", "pandas",
         "matplotlib", "papermill", "nbconvert", "ray", "dvc")

# Run in the child: time the import, say which of the watched packages it loaded, then (a stage
# module, when asked) time ``load_params()``, the validation of params.yaml every stage starts with.
CHILD = """\
import importlib, json, sys, time
module, params, watch = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
t = time.perf_counter()
importlib.import_module(module)
out = {"import_s": time.perf_counter() - t, "loaded": [m for m in watch if m in sys.modules], "params_s": None}
if params and module.startswith("advlab.stages."):
    from advlab.stages.common import load_params
    t = time.perf_counter()
    try:
        load_params()
        out["params_s"] = time.perf_counter() - t
        out["loaded_with_params"] = [m for m in watch if m in sys.modules]
    except Exception as err:  # no params.yaml here, or an invalid one: the import time still stands
        out["params_error"] = f"{type(err).__name__}: {err}"
print(json.dumps(out))
"""


def stage_modules() -> list[str]:
    """Every module of ``advlab.stages`` (found without importing them)."""
    path = find_spec("advlab.stages").submodule_search_locations
    return [f"advlab.stages.{m.name}" for m in sorted(pkgutil.iter_modules(path), key=lambda m: m.name)]


def probe(module: str, watch=HEAVY, params: bool = False) -> dict:
    """Import ``module`` in a fresh interpreter: the import's time (``import_s``), the process's
    wall time (``process_s``), which of the packages ``watch`` the import put in ``sys.modules``
    (``loaded``) and, with ``params`` and a stage module, the time of ``load_params()`` after it
    (``params_s``; None when params.yaml is missing or invalid)."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, module, "1" if params else "0", *watch],
                         capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"import {module} failed:\n{out.stderr}")
    return {**json.loads(out.stdout.splitlines()[-1]), "process_s": wall}


def measure(module: str, runs: int, params: bool) -> dict:
    probes = [probe(module, params=params) for _ in range(runs)]
    timed = [p["params_s"] for p in probes if p["params_s"] is not None]
    return {"module": module,
            "import_s": statistics.median(p["import_s"] for p in probes),
            "params_s": statistics.median(timed) if timed else None,
            "process_s": statistics.median(p["process_s"] for p in probes),
            "loaded": probes[-1]["loaded"],
            "loaded_with_params": probes[-1].get("loaded_with_params")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", help="modules to time (default: torch, then every advlab.stages module)")
    ap.add_argument("--runs", "-n", type=int, default=3, help="fresh processes per module; the median is printed")
    ap.add_argument("--no-params", dest="params", action="store_false", help="time the imports only")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = ap.parse_args(argv)
    modules = args.modules or ["torch", *stage_modules()]
    if not args.json:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
              f"at the start, median of {args.runs} fresh processes, PYTHONDONTWRITEBYTECODE="
              f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
        print(f"{'module':<32}{'import s':>9}{'params s':>9}{'process s':>10}  heavy (+ by params)")
    rows = []
    for module in modules:
        row = measure(module, args.runs, args.params)
        rows.append(row)
        if not args.json:
            added = [m for m in row["loaded_with_params"] or [] if m not in row["loaded"]]
            params = "-" if row["params_s"] is None else f"{row['params_s']:.2f}"
            heavy = " ".join(row["loaded"] + [f"+{m}" for m in added])
            print(f"{module:<32}{row['import_s']:>9.2f}{params:>9}{row['process_s']:>10.2f}  {heavy}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
