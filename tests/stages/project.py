"""A temporary copy of the repository for end-to-end ``dvc repro`` tests (tests/stages/test_pipeline.py,
tests/stages/test_full_smoke.py): copy the working tree, switch profile, run commands, read which stages ran."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(cmd, cwd, env, check=True):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def copy_project(dest: Path, profile: str = "tiny") -> dict:
    """Copy the working tree (tracked and new files, not ignored ones) to ``dest``, on ``profile``;
    returns the environment to run commands in (one torch thread: `make test` runs another worker beside it; no progress bars)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    for rel in listed:
        if rel.startswith(("reports/", "metrics/", "tests/")) or rel == "dvc.lock" or not (ROOT / rel).is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1", "CI": "true"}
    env.pop("ADVLAB_PARAMS", None)
    run(["git", "init", "-q"], dest, env)
    run([sys.executable, "-m", "advlab.cli", "profile", profile, "--force"], dest, env)  # a temporary copy: local edits go
    return env
