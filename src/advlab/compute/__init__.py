"""Where a group of independent trainings runs: one small interface, two backends.

A stage that trains several models hands them to an executor::

    with executor(p.compute) as ex:
        for i, result in ex.map(fn, items, shared=context):
            ...   # results arrive as jobs finish (in order on the local backend)

``fn(shared, item)`` must be a module-level function (the ray backend ships it to other
processes); ``shared`` is sent once per stage, ``items`` should be small (names, indices).
``fn`` runs with ``compute.threads_per_worker`` torch threads on every backend, so results
do not depend on the backend. A user error (:class:`~advlab.errors.AdvlabError`) raised in
``fn`` reaches the caller as itself, on every backend.

Backends register in :data:`EXECUTORS` (``compute.backend``): ``local`` (a plain loop in
this process, the default) and ``ray`` (a Ray task per item). A new one (submitit/Slurm,
say) is one module with a class of the same two methods plus a registry line.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Protocol, Sequence

import torch

from advlab.errors import AdvlabError
from advlab.registry import Registry, import_submodules

EXECUTORS = Registry("compute backend", package="advlab.compute")


class Executor(Protocol):
    def map(self, fn: Callable[[Any, Any], Any], items: Sequence, *, shared: Any = None) -> Iterator[tuple[int, Any]]:
        """Run ``fn(shared, item)`` for every item; yield ``(index, result)`` as each finishes."""

    def close(self) -> None: ...


def threads_for(cfg) -> int:
    """Torch threads per job: ``threads_per_worker``, or this process's torch default."""
    return cfg.threads_per_worker or torch.get_num_threads()


@contextlib.contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` torch threads, then restore the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def executor(cfg, device: torch.device | None = None) -> Iterator[Executor]:
    """The backend ``cfg.backend`` (a :class:`~advlab.params.compute.ComputeParams`) for jobs on
    ``device``, closed after use."""
    if device is not None and device.type == "cuda" and cfg.backend != "local" and not cfg.gpus_per_task:
        raise AdvlabError(f"compute.gpus_per_task: 0, but the jobs run on {device} and a {cfg.backend} task that "
                          "asks for no GPU sees none; set it (e.g. 0.25 lets 4 models share a GPU)")
    ex = EXECUTORS.get(cfg.backend)(cfg)
    try:
        yield ex
    finally:
        ex.close()


import_submodules(__name__, __path__)  # the backends register themselves
