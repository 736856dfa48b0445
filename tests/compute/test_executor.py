"""The executor interface (:mod:`advlab.compute`) and the ``compute:`` keys, without a cluster."""

from __future__ import annotations

import socket

import pytest
import torch

from advlab.compute import EXECUTORS, executor
from advlab.errors import AdvlabError
from advlab.params import ComputeParams, validate
from tests.mia_params import params


def square_with_threads(shared, item):
    if item < 0:
        raise AdvlabError(f"item {item} is negative")
    return shared * item * item, torch.get_num_threads()


def test_local_runs_in_order_with_the_configured_threads():
    before = torch.get_num_threads()
    with executor(ComputeParams(threads_per_worker=1)) as ex:
        out = list(ex.map(square_with_threads, [1, 2, 3], shared=10))
    assert out == [(0, (10, 1)), (1, (40, 1)), (2, (90, 1))]
    assert torch.get_num_threads() == before  # restored after the jobs


def test_local_default_threads_are_this_process_default():
    with executor(ComputeParams()) as ex:
        assert [t for _, (_, t) in ex.map(square_with_threads, [1, 2], shared=1)] == [torch.get_num_threads()] * 2


def test_local_user_error_reaches_the_caller_as_itself():
    with executor(ComputeParams()) as ex, pytest.raises(AdvlabError, match="item -1 is negative"):
        list(ex.map(square_with_threads, [1, -1], shared=1))


def test_both_backends_are_registered():
    assert {"local", "ray"} <= set(EXECUTORS.names())


@pytest.mark.parametrize("compute, pattern", [
    ({"workers": 0}, r"compute\.workers: .*greater than or equal to 1"),
    ({"threads_per_worker": 0}, r"compute\.threads_per_worker: .*greater than or equal to 1"),
    ({"backend": "slurm"}, r"compute\.backend: compute backend 'slurm' is unknown; known: local, ray"),
    ({"address": "10.0.0.1:6379"}, r"compute\.address: only the ray backend joins a cluster"),
    ({"backend": "ray", "gpus_per_task": 1.5}, r"compute\.gpus_per_task: above 1 it must be a whole number"),
    ({"backend": "ray", "gpus_per_task": -0.5}, r"compute\.gpus_per_task: .*greater than or equal to 0"),
    ({"cores": 4}, r"compute\.cores: unknown key"),
])
def test_bad_compute_keys_name_the_key(compute, pattern):
    with pytest.raises(AdvlabError, match=pattern):
        validate({**params(), "compute": compute})


def test_ray_missing_is_one_line_naming_the_key(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(AdvlabError, match=r"compute\.backend: 'ray' needs the ray package"):
        validate({**params(), "compute": {"backend": "ray"}})


def test_ray_import_failure_at_run_time_is_one_line(monkeypatch):
    cfg = ComputeParams(backend="ray")
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(AdvlabError, match=r"compute\.backend: 'ray' needs the ray package"):
        with executor(cfg):
            pass


def test_unreachable_address_is_refused_before_any_work():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AdvlabError, match=rf"compute\.address: no Ray cluster answers at '127\.0\.0\.1:{port}'"):
        with executor(ComputeParams(backend="ray", address=f"127.0.0.1:{port}")):
            pass


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_gpus_per_task_without_a_gpu_is_refused():
    with pytest.raises(AdvlabError, match=r"compute\.gpus_per_task: 0\.25 but this machine has no CUDA GPU"):
        with executor(ComputeParams(backend="ray", gpus_per_task=0.25)):
            pass


def test_gpu_jobs_on_ray_must_ask_for_a_gpu():
    with pytest.raises(AdvlabError, match=r"compute\.gpus_per_task: 0, but the jobs run on cuda"):
        with executor(ComputeParams(backend="ray"), device=torch.device("cuda")):
            pass
