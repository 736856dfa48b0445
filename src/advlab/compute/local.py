"""``compute.backend: local``: every job in this process, one after another (no server)."""

from __future__ import annotations

from advlab.compute import EXECUTORS, threads_for, torch_threads


@EXECUTORS.register("local")
class LocalExecutor:
    def __init__(self, cfg):
        self.threads = threads_for(cfg)

    def map(self, fn, items, *, shared=None):
        with torch_threads(self.threads):
            for i, item in enumerate(items):
                yield i, fn(shared, item)

    def close(self) -> None:
        pass
