"""Killed, and nothing lost (issue 13 item 5).

* A stage dies with the ``dvc`` process that runs it (``advlab.stages.common.die_with_dvc``),
  whether the shell DVC starts it with execs it (bash) or forks it (dash, Debian's /bin/sh).
* A report stage killed midway leaves the previous report intact, and nothing under ``reports/``.
* The slow test: ``dvc repro`` of the tiny profile SIGKILLed at seeded random moments, restarted
  each time, then run to completion, equals one uninterrupted run: every metric, table, array
  and model weight, the same set of files, ``dvc status`` clean, no temporary file left.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tests.stages.project import ROOT, copy_project, run, stages_run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and PR_SET_PDEATHSIG")

SRC = str(ROOT / "src")


def _env(**extra) -> dict:
    """This checkout's advlab first on the path (a worktree may share another checkout's venv)."""
    path = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **extra}


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def processes_in(folder: Path) -> list[str]:
    """Live processes working in ``folder`` (their cwd is in it, or DVC_ROOT names it)."""
    folder = str(folder.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid() or not alive(int(entry.name)):
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            env = (entry / "environ").read_bytes().split(b"\0")
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd == folder or cwd.startswith(folder + os.sep) or f"DVC_ROOT={folder}".encode() in env:
            found.append(f"{entry.name}: {cmd[:120]}")
    return found


def wait_until(cond, timeout: float, step: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


# --- a stage dies with its parent ---------------------------------------------------------------

STAGE = textwrap.dedent("""
    import os, sys, time
    time.sleep(float(sys.argv[2]))          # 'starting': DVC is killed before the stage's main runs
    from advlab.stages.common import stage

    @stage
    def main():
        open(sys.argv[1], "w").write(str(os.getpid()))
        time.sleep(300)

    sys.exit(main([]))
""")

FAKE_DVC = textwrap.dedent("""
    import subprocess, sys
    # as dvc/stage/run.py does: [$SHELL, -c, cmd], waited for with communicate()
    subprocess.Popen([sys.argv[1], "-c", sys.argv[2]], close_fds=True).communicate()
""")


@pytest.mark.parametrize("shell", ["/bin/bash", "/bin/sh"])
@pytest.mark.parametrize("when", ["running", "starting"])
def test_stage_dies_with_dvc(tmp_path, shell, when):
    if not Path(shell).exists():
        pytest.skip(f"no {shell}")
    script, pidfile = tmp_path / "stage.py", tmp_path / "stage.pid"
    script.write_text(STAGE)
    delay = 0 if when == "running" else 4
    cmd = f"{sys.executable} {script} {pidfile} {delay}"
    env = _env(DVC_STAGE="fake", DVC_ROOT=str(tmp_path))
    dvc = subprocess.Popen([sys.executable, "-c", FAKE_DVC, shell, cmd], cwd=tmp_path, env=env)
    try:
        if when == "running":
            assert wait_until(pidfile.exists, 120), "the stage never started"
            time.sleep(0.5)
        else:
            assert wait_until(lambda: processes_in(tmp_path), 30)
            time.sleep(1)
        dvc.kill()
        dvc.wait()
        assert wait_until(lambda: not processes_in(tmp_path), 60), processes_in(tmp_path)
        if when == "starting":
            assert not pidfile.exists()  # stopped before its main did anything
    finally:
        dvc.kill()
        for line in processes_in(tmp_path):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)


def test_stage_outside_dvc_is_left_alone(monkeypatch):
    """No DVC_STAGE (a test calling main, a user running the module): no parent watch."""
    from advlab.stages import common

    monkeypatch.setattr(common, "_lifeline_set", False)
    monkeypatch.delenv("DVC_STAGE", raising=False)
    common.die_with_dvc()
    assert common._lifeline_set is False


# --- a killed report leaves the last one --------------------------------------------------------

SLOW_NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
         "source": 'results_dir = "results/slow"\nfigures_dir = "reports/figures/slow"\nwait = 0\n'},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": textwrap.dedent("""
             import time
             from pathlib import Path
             figures = Path(figures_dir)
             (figures / "new.png").write_bytes(b"new figure")
             Path("started").write_text("1")
             time.sleep(wait)
             print("done")
         """)},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def _render(cwd: Path, wait: float) -> subprocess.Popen:
    code = f"from advlab.stages.report import render; render('slow', {{'wait': {wait}}})"
    return subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_killed_report_keeps_the_last_one(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks/slow.ipynb").write_text(json.dumps(SLOW_NOTEBOOK))
    reports = tmp_path / "reports"
    (reports / "figures/slow").mkdir(parents=True)
    (reports / "slow.html").write_text("<p>last report</p>")
    (reports / "slow.ipynb").write_text("{}")
    (reports / "figures/slow/old.png").write_bytes(b"old figure")
    before = _tree(reports)
    (reports / ".slow.ipynb.abc12345.ipynb").write_text("left by a killed older version (it wrote in place)")

    proc = _render(tmp_path, wait=300)
    try:
        assert wait_until((tmp_path / "started").exists, 120), proc.stdout.read() if proc.poll() is not None else ""
        time.sleep(0.5)  # papermill has written its partial notebook
        assert (tmp_path / "checkpoints/report/slow/slow.ipynb").exists()
        proc.kill()
        proc.wait()
        assert _tree(reports) == before  # the same files, the same bytes; the old version's temp file gone
        assert wait_until(lambda: not processes_in(tmp_path), 30), processes_in(tmp_path)  # the kernel too
    finally:
        proc.kill()

    (tmp_path / "started").unlink()
    proc = _render(tmp_path, wait=0)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    after = _tree(reports)
    assert sorted(after) == ["figures/slow/new.png", "slow.html", "slow.ipynb"]  # old.png and the temp file gone
    assert "done" in after["slow.html"].decode()
    nb = json.loads(after["slow.ipynb"])
    assert nb["metadata"]["papermill"]["parameters"]["figures_dir"] == "reports/figures/slow"
    assert nb["metadata"]["papermill"]["output_path"] == "reports/slow.ipynb"
    assert "checkpoints" not in after["slow.ipynb"].decode()  # names the final folder, not the staging one
    assert not (tmp_path / "checkpoints/report/slow").exists()


def test_atomic_writer_removes_what_a_killed_writer_left(tmp_path):
    from advlab.io import write_json

    stale = tmp_path / ".a.json.k3y_9abc.tmp"
    stale.write_text("half")
    other = tmp_path / ".b.json.k3y_9abc.tmp"  # another file's: not ours to remove
    other.write_text("half")
    write_json(tmp_path / "a.json", {"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.json.k3y_9abc.tmp", "a.json"]


def test_install_replaces_a_folder_as_a_whole(tmp_path):
    from advlab.io import install

    dest, new = tmp_path / "figures", tmp_path / "staging/figures"
    dest.mkdir()
    (dest / "gone.png").write_text("old")
    new.mkdir(parents=True)
    (new / "kept.png").write_text("new")
    install(new, dest)
    assert [p.name for p in dest.iterdir()] == ["kept.png"] and not new.exists()
    assert sorted(p.name for p in (tmp_path / "staging").iterdir()) == []
    new.mkdir()
    (new / "again.png").write_text("newer")
    shutil.rmtree(dest)
    install(new, dest)  # nothing there yet
    assert [p.name for p in dest.iterdir()] == ["again.png"]


# --- the whole tiny study, killed again and again -----------------------------------------------

# How the run went, not what it computed: wall/CPU timings, and `reused` (a model a killed attempt
# had finished was loaded, not retrained; its weights are compared below like every other)
VOLATILE = re.compile(r"seconds|_s$|(^|_)time($|_)|duration|^reused$")
KILLS, SEED = 6, 13


def _json_numbers(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not VOLATILE.search(str(k)):
                yield from _json_numbers(v, f"{prefix}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _json_numbers(v, f"{prefix}[{i}]")
    else:
        yield prefix, obj


def _csv_rows(path: Path):
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if not VOLATILE.search(k)} for row in csv.DictReader(fh)]


def _digest(path: Path):
    """What must be equal between two runs: numbers, tables, arrays, weights (not timings)."""
    if path.suffix == ".json":
        return sorted(_json_numbers(json.loads(path.read_text())), key=str)
    if path.suffix == ".csv":
        return _csv_rows(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: hashlib.sha256(np.ascontiguousarray(z[k]).tobytes()).hexdigest() + str(z[k].shape) for k in z.files}
    if path.suffix == ".safetensors":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return None  # other files: present in both is enough


def _outputs(root: Path) -> dict[str, object]:
    return {p.relative_to(root).as_posix(): _digest(p)
            for top in ("data/prepared", "models", "results", "metrics") for p in sorted((root / top).rglob("*")) if p.is_file()}


def _leftovers(root: Path) -> list[str]:
    stray = [p for p in root.rglob(".*.tmp") if ".dvc" not in p.parts and ".git" not in p.parts]
    stray += list((root / "reports").glob(".*")) + list((root / "checkpoints").glob("*/*"))
    return sorted(str(p.relative_to(root)) for p in stray)


def _kill_moments(duration: float, rng: random.Random) -> list[float]:
    """One moment in each of the first KILLS of KILLS+1 equal slices of an uninterrupted run."""
    return [duration * (i + rng.random()) / (KILLS + 1) for i in range(KILLS)]


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600)
def test_killed_repro_equals_an_uninterrupted_one(tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    ref.mkdir()
    killed.mkdir()
    env_ref, env = copy_project(ref), copy_project(killed)
    assert {k: v for k, v in env_ref.items()} == {k: v for k, v in env.items()}  # same threads, same CI
    dvc = [sys.executable, "-m", "dvc", "repro"]

    t0 = time.monotonic()
    run(dvc, ref, env_ref)
    duration = time.monotonic() - t0

    moments = _kill_moments(duration, random.Random(SEED))
    print(f"\nuninterrupted: {duration:.0f} s; kills at {[round(m) for m in moments]} s of repro time")
    log = killed / "repro.log"
    elapsed, history = 0.0, []
    for moment in moments:
        with open(log, "w") as out:
            proc = subprocess.Popen(dvc, cwd=killed, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                proc.wait(timeout=max(moment - elapsed, 0.1))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        elapsed = moment
        text = log.read_text()
        running = re.findall(r"Running stage '([^']+)'", text)
        t_kill = time.monotonic()
        gone = wait_until(lambda: not processes_in(killed), 120)
        history.append({"at_s": round(moment), "rc": proc.returncode, "stage": running[-1] if running else None,
                        "children_gone_after_s": round(time.monotonic() - t_kill, 1),
                        "dvc_warned": "had been killed" in text})
        print(history[-1], flush=True)
        assert gone, f"left running after SIGKILL of dvc: {processes_in(killed)}"
        assert proc.returncode in (0, -signal.SIGKILL), text[-3000:]
    log.unlink()
    assert sum(h["rc"] == -signal.SIGKILL for h in history) >= 5, history  # else the run outpaced its kills

    done = run(dvc, killed, env)
    print("final run:", sorted(stages_run(done.stdout)))
    status = run([sys.executable, "-m", "dvc", "status"], killed, env).stdout
    assert "up to date" in status, status

    a, b = _outputs(ref), _outputs(killed)
    assert sorted(a) == sorted(b), (sorted(set(a) - set(b)), sorted(set(b) - set(a)))
    differ = [k for k in a if a[k] != b[k]]
    assert not differ, differ
    assert _leftovers(killed) == [], _leftovers(killed)
    for name in ("models", "evasion", "calibration", "uncertainty", "membership"):
        assert (killed / f"reports/{name}.html").is_file()
        assert sorted(p.name for p in (killed / "reports/figures" / name).iterdir()) == \
            sorted(p.name for p in (ref / "reports/figures" / name).iterdir())
