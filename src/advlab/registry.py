"""One small registry type for every concept the study names (timm's pattern).

A registry maps a name to an entry (a class, a function or a spec) plus metadata. It is a
leaf module: it imports nothing of the things it registers. Each concept has one package
that imports every implementation (so importing the package fills the registry), and
``params`` validates names against :meth:`Registry.names` so no list of names is written
twice.

    SEARCHES = Registry("search")

    @SEARCHES.register("pgd", norms=("linf", "l2"))
    def pgd(...): ...

    SEARCHES.get("pgd")          # the function
    SEARCHES.meta("pgd")["norms"]
    SEARCHES.get("nosuch")       # AdvlabError: search 'nosuch' is unknown; known: pgd
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Iterator

from advlab.errors import AdvlabError


class Registry:
    """Names → entries (and their metadata), filled by ``register`` at import time."""

    def __init__(self, kind: str, package: str | None = None):
        self.kind = kind
        self.package = package  # imported on first lookup, so every implementation is registered
        self._entries: dict[str, Any] = {}
        self._meta: dict[str, dict] = {}

    def _load(self) -> None:
        if self.package is not None:
            pkg, self.package = self.package, None
            importlib.import_module(pkg)

    def register(self, name: str, entry: Any = None, **meta) -> Callable | Any:
        """Register ``entry`` under ``name`` (or use as a decorator: ``@REG.register(name)``)."""

        def add(obj):
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            self._meta[name] = dict(meta)
            return obj

        return add if entry is None else add(entry)

    def get(self, name: str) -> Any:
        self._load()
        if name not in self._entries:
            raise AdvlabError(f"{self.kind} {name!r} is unknown; known: {', '.join(self.names())}")
        return self._entries[name]

    def meta(self, name: str) -> dict:
        self.get(name)
        return self._meta[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, Any]]:
        self._load()
        return iter(sorted(self._entries.items()))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)


def import_submodules(package: str, path) -> None:
    """Import every module of a package (call from its ``__init__`` with ``__name__, __path__``),
    so each implementation in its own file registers itself: adding one is adding a file."""
    for module in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{module.name}")
