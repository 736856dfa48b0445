"""The ray backend on a real local Ray cluster (2 CPUs, started once for the module, which
the stage then joins as a notebook would): the membership shadows trained as Ray tasks
have the local backend's weights bit for bit, even when a worker process is killed in the
middle of a job; a job's user error reads as on the local backend. How a stage starts
and stops a cluster of its own is checked without one (a stand-in ``ray`` module)."""

from __future__ import annotations

import hashlib
import threading
import time

import psutil
import pytest

from advlab.compute import executor
from advlab.errors import AdvlabError
from advlab.params import ComputeParams
from tests.mia_params import params, prepared_project, write

SHADOWS = "models/membership/shadows"


def weights(root) -> dict[str, str]:
    return {f.parent.name: hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted((root / SHADOWS).glob("*/model.safetensors"))}


def ray_workers_running_a_task() -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if cmd and cmd[0].startswith("ray::_run"):  # a Ray worker's title while it runs our task
            out.append(proc)
    return out


def kill_one_worker_mid_job(root, killed: list, stop: threading.Event) -> None:
    """Once a shadow has written an epoch checkpoint (mid-job), SIGKILL a worker running a task."""
    while not stop.is_set():
        if list((root / "checkpoints/membership/shadows").glob("*/state.json")):
            for proc in ray_workers_running_a_task():
                proc.kill()
                killed.append(proc.pid)
                return
        time.sleep(0.02)


@pytest.fixture(scope="module")
def cluster():
    import logging

    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    raw = params(recipe={"options": {"width": 4, "hidden": 16, "dropout": 0.0}, "train": {"epochs": 25, "batch_size": 16}})
    with prepared_project(tmp_path_factory, "ray", raw) as tmp:
        yield tmp, raw


def test_ray_shadows_equal_local_bit_for_bit_with_a_worker_killed(cluster, project, capsys):
    from advlab.stages import mia_train

    tmp, raw = project
    write(tmp, {**raw, "compute": {"backend": "local", "threads_per_worker": 1}})
    assert mia_train.main(["shadows"]) == 0
    local = weights(tmp)
    assert len(local) == 4
    for f in (tmp / SHADOWS).glob("*/model.safetensors"):
        f.unlink()  # retrain all four (their sidecars no longer match a weights file)

    write(tmp, {**raw, "compute": {"backend": "ray", "workers": 2, "threads_per_worker": 1}})
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=kill_one_worker_mid_job, args=(tmp, killed, stop))
    killer.start()
    try:
        assert mia_train.main(["shadows"]) == 0
    finally:
        stop.set()
        killer.join()
    assert killed, "no Ray worker was found running a shadow job"
    assert weights(tmp) == local  # every model, the one whose worker died included
    assert not (tmp / "checkpoints/membership/shadows").exists()
    assert "retraining" in capsys.readouterr().out  # the driver saw the missing weights and retrained them


def test_user_error_in_a_ray_job_reads_as_on_the_local_backend(cluster):
    def square_with_threads(shared, item):  # defined here: Ray ships it by value (workers cannot import tests/)
        if item < 0:
            raise AdvlabError(f"item {item} is negative")
        return shared * item * item

    messages = []
    for backend in ("local", "ray"):
        with executor(ComputeParams(backend=backend, workers=1, threads_per_worker=1)) as ex:
            with pytest.raises(AdvlabError) as err:
                list(ex.map(square_with_threads, [2, -1], shared=1))
            messages.append(str(err.value))
    assert messages[0] == messages[1] == "item -1 is negative"


class FakeRay:
    """Records what the backend asks of Ray; runs nothing."""

    def __init__(self):
        self.calls, self.up = [], False

    def is_initialized(self):
        return self.up

    def init(self, **kwargs):
        self.calls.append(("init", kwargs))
        self.up = True

    def shutdown(self):
        self.calls.append(("shutdown", {}))
        self.up = False

    def remote(self, fn):
        return type("Remote", (), {"options": lambda _self, **kw: self.calls.append(("options", kw))})()


def test_a_stage_starts_a_cluster_of_workers_x_threads_cpus_and_stops_it(monkeypatch):
    fake, cfg = FakeRay(), ComputeParams(backend="ray", workers=3, threads_per_worker=2)
    monkeypatch.setitem(__import__("sys").modules, "ray", fake)
    with executor(cfg):
        pass
    (init, kw), options, shutdown = fake.calls
    assert init == "init" and kw["num_cpus"] == 6 and "address" not in kw
    assert options == ("options", {"num_cpus": 2, "num_gpus": 0.0, "max_retries": 3, "retry_exceptions": False})
    assert shutdown[0] == "shutdown"


def test_a_process_already_on_a_cluster_keeps_it(monkeypatch):
    fake, cfg = FakeRay(), ComputeParams(backend="ray")
    fake.up = True
    monkeypatch.setitem(__import__("sys").modules, "ray", fake)
    with executor(cfg):
        pass
    assert [c for c, _ in fake.calls] == ["options"]  # neither init nor shutdown


@pytest.mark.slow
def test_killed_ray_stage_leaves_no_cluster_and_retrains_no_finished_model(project):
    """SIGKILL the stage (its own Ray cluster) once a shadow is saved: no Ray process outlives it,
    and the rerun reuses every saved shadow and ends with the local backend's weights."""
    import os
    import signal
    import subprocess
    import sys

    tmp, raw = project
    write(tmp, {**raw, "compute": {"backend": "local", "threads_per_worker": 1}})
    from advlab.stages import mia_train

    assert mia_train.main(["shadows"]) == 0
    local = weights(tmp)
    for f in (tmp / SHADOWS).glob("*/model.safetensors"):
        f.unlink()
    write(tmp, {**raw, "compute": {"backend": "ray", "workers": 2, "threads_per_worker": 1}})
    cmd = [sys.executable, "-m", "advlab.stages.mia_train", "shadows"]
    stage = subprocess.Popen(cmd, cwd=tmp, env={**os.environ, "CI": "true"}, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((tmp / SHADOWS).glob("*/model.safetensors")) and stage.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    stage.send_signal(signal.SIGKILL)
    stage.wait()
    finished = set(weights(tmp))
    assert finished and len(finished) < 4, f"killed too late or too early: {sorted(finished)}"
    time.sleep(5)
    session = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] and p.info["cmdline"][0].startswith("ray::_run")]
    assert not session, "a Ray worker outlived the killed stage"
    rerun = subprocess.run(cmd, cwd=tmp, env={**os.environ, "CI": "true"}, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert sum("(reused)" in line for line in rerun.stdout.splitlines()) == len(finished)
    assert weights(tmp) == local
