"""``compute.backend: ray``: each item is a Ray task.

With ``address: null`` the stage starts a local Ray cluster of ``workers ×
threads_per_worker`` CPUs (so at most ``workers`` jobs at once) and shuts it down at the
end; with an address (``host:port``, or ``auto``) it joins a running cluster (``ray start
--head`` on one machine, ``ray start --address=…`` on the others). A process that has
already called ``ray.init`` (a notebook, a test) keeps its cluster. Each task asks for
``threads_per_worker`` CPUs and ``gpus_per_task`` GPUs, so several small models share a
GPU when that is a fraction. A task whose worker process dies is rerun by Ray (up to
``RETRIES`` times); an exception raised by the job itself is not retried and reaches the
caller as the original exception.

Results come back to this process, which writes every output: the workers need the
project's code, not its files (resume checkpoints are written where the worker runs; on a
cluster without shared storage a killed job restarts its model from epoch 0).
"""

from __future__ import annotations

import logging
import os
import socket

from advlab.compute import EXECUTORS, threads_for, torch_threads
from advlab.errors import AdvlabError

RETRIES = 3


def _run(fn, shared, item, threads: int):
    with torch_threads(threads):
        return fn(shared, item)


def _reachable(address: str) -> None:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError) as err:
        raise AdvlabError(f"compute.address: no Ray cluster answers at {address!r} ({err}); start one with "
                          "`ray start --head`, or set compute.address: null to start a local one") from None


@EXECUTORS.register("ray")
class RayExecutor:
    def __init__(self, cfg):
        try:
            import ray
        except ImportError:
            raise AdvlabError("compute.backend: 'ray' needs the ray package (`uv sync` installs it); "
                              "or set compute.backend: local") from None
        self.ray, self.cfg, self.threads = ray, cfg, threads_for(cfg)
        self.owner = not ray.is_initialized()  # a process that already joined a cluster (a notebook) keeps it
        if self.owner:
            self._connect()
        self.task = ray.remote(_run).options(num_cpus=self.threads, num_gpus=cfg.gpus_per_task,
                                             max_retries=RETRIES, retry_exceptions=False)

    def _connect(self) -> None:
        ray, cfg = self.ray, self.cfg
        if cfg.address is None:
            if cfg.gpus_per_task > 0 and not _cuda_count():
                raise AdvlabError(f"compute.gpus_per_task: {cfg.gpus_per_task} but this machine has no CUDA GPU; "
                                  "set it to 0 (or run on a GPU machine)")
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            ray.init(num_cpus=cfg.workers * self.threads, include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=True)
            return
        if cfg.address != "auto":
            _reachable(cfg.address)
        try:
            ray.init(address=cfg.address, logging_level=logging.WARNING, log_to_driver=True)
        except (ConnectionError, RuntimeError) as err:
            raise AdvlabError(f"compute.address: cannot join the Ray cluster at {cfg.address!r} ({err})") from None
        if cfg.gpus_per_task > 0 and not ray.cluster_resources().get("GPU", 0):
            self.close()
            raise AdvlabError(f"compute.gpus_per_task: {cfg.gpus_per_task} but the Ray cluster at "
                              f"{cfg.address!r} has no GPU; set it to 0")

    def map(self, fn, items, *, shared=None):
        ray = self.ray
        shared_ref = ray.put(shared)
        pending = {self.task.remote(fn, shared_ref, item, self.threads): i for i, item in enumerate(items)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    yield i, self._get(ref, items[i])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def _get(self, ref, item):
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None  # the job's own error, as the local backend raises it
            raise
        except ray.exceptions.WorkerCrashedError:
            raise AdvlabError(f"compute: the Ray worker running {item!r} died {RETRIES + 1} times; "
                              "see the Ray logs (/tmp/ray/session_latest/logs)") from None

    def close(self) -> None:
        if self.owner and self.ray.is_initialized():
            self.ray.shutdown()


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count()
