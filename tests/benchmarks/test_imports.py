"""Each stage module, imported in a fresh interpreter, loads only the heavy packages its work
needs (issue 13: start-up is most of a short stage's time). Checked on ``sys.modules``, not on
a clock, so it cannot flake on a busy machine; ``benchmarks/imports.py`` prints the times."""

import importlib.util
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# torch ~3 s, scikit-learn ~2.5 s, scipy.stats ~2 s, pandas ~0.6 s, papermill/nbconvert ~1 s
WATCH = ("torch", "pandas", "sklearn", "scipy.stats", "papermill", "nbconvert", "matplotlib", "ray", "dvc")
NO_MODEL = set()  # stages that run no model: no torch (params validation may load it later, at run time)
MODEL = {"torch"}
TABLES = {"torch", "pandas"}  # stages that write their result tables with pandas
ALLOWED = {
    "check_params": NO_MODEL, "common": NO_MODEL, "index": NO_MODEL, "report": NO_MODEL,
    "prepare": MODEL, "mia_train": MODEL, "mia_signals": MODEL,
    "train": TABLES, "evaluate": TABLES, "evasion": TABLES, "evasion_certify": TABLES, "evasion_defense": TABLES,
    "evasion_detect": TABLES, "evasion_poison": TABLES, "calibration": TABLES, "uncertainty": TABLES,
    "mia_attack": TABLES,
}


def load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_imports", ROOT / "benchmarks" / "imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load_benchmark()
STAGES = [m.rsplit(".", 1)[1] for m in bench.stage_modules()]


# Imports torch once, then imports each module named on the command line in a fork of itself
# (a fresh process per stage, without paying torch's seconds every time); one JSON line each.
FORKS = """\
import importlib, json, os, sys, traceback
import torch  # noqa: F401  (every model stage's floor, allowed for all of them)
watch = sys.argv[1].split(",")
for module in sys.argv[2:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(module)
            print(json.dumps([module, [m for m in watch if m in sys.modules]]), flush=True)
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
    assert os.waitpid(pid, 0)[1] == 0, module
"""


@cache
def loaded() -> dict[str, set[str]]:
    """What each stage module's import loads: the stages that may not load torch each in a fresh
    interpreter, the others each in a fork of one that has imported torch."""
    out = {s: set(bench.probe(f"advlab.stages.{s}", WATCH)["loaded"]) for s in STAGES if "torch" not in ALLOWED[s]}
    rest = [f"advlab.stages.{s}" for s in STAGES if s not in out]
    run = subprocess.run([sys.executable, "-c", FORKS, ",".join(WATCH), *rest], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for line in run.stdout.splitlines():
        module, mods = json.loads(line)
        out[module.rsplit(".", 1)[1]] = set(mods) | {"torch"}
    return out


def test_every_stage_module_has_an_allowance():
    assert set(STAGES) == set(ALLOWED), "add the new stage module to ALLOWED with the heavy packages it needs"


@pytest.mark.parametrize("stage", STAGES)
def test_stage_import_loads_only_what_it_needs(stage):
    extra = loaded()[stage] - ALLOWED[stage]
    assert not extra, (f"import advlab.stages.{stage} loads {sorted(extra)}; import them where they are used "
                       f"(see `python -X importtime -c 'import advlab.stages.{stage}'` for who imports them)")


def test_benchmark_prints_a_row_per_module(capsys):
    assert bench.main(["--runs", "1", "--no-params", "--json", "advlab.stages.index"]) == 0
    out = capsys.readouterr().out
    assert '"module": "advlab.stages.index"' in out and '"import_s"' in out
    assert "torch" not in out
