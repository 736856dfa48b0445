"""``compute:``: where a stage's independent trainings run (:mod:`advlab.compute`).

Nothing here changes a result except ``threads_per_worker``: a model's weights depend on
its recipe, data and seed and on the number of torch threads that trained it, and both
backends train every job with the same number, so one params file gives the same weights
on either backend. The section is therefore not a DVC dependency of any stage.
"""

from __future__ import annotations

import importlib.util
from typing import Annotated

from pydantic import Field, model_validator

from advlab.params.core import PosInt, Strict, one_of


def _backends():
    from advlab.compute import EXECUTORS

    return EXECUTORS.names()


class ComputeParams(Strict):
    backend: Annotated[str, one_of(_backends, "compute backend")] = "local"
    workers: PosInt = 2                   # ray, local cluster: concurrent training processes
    address: str | None = None            # ray: null starts a local cluster; "host:port" or "auto" joins one
    threads_per_worker: PosInt | None = None  # torch threads per job, both backends; null: torch's default here
    gpus_per_task: Annotated[float, Field(ge=0.0)] = 0.0  # ray: a fraction lets several models share a GPU

    @model_validator(mode="after")
    def _local_takes_no_cluster(self) -> "ComputeParams":
        if self.backend == "local" and self.address is not None:
            raise ValueError("address: only the ray backend joins a cluster; set backend: ray or address: null")
        if self.backend == "ray" and importlib.util.find_spec("ray") is None:
            raise ValueError("backend: 'ray' needs the ray package (`uv sync` installs it); or set backend: local")
        if self.gpus_per_task > 1 and self.gpus_per_task != int(self.gpus_per_task):
            raise ValueError(f"gpus_per_task: above 1 it must be a whole number of GPUs (got {self.gpus_per_task})")
        return self
