"""Progress bars with an ETA, silent under ``CI=true`` or when not on a terminal."""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm


def enabled() -> bool:
    return os.environ.get("CI", "").lower() not in {"1", "true", "yes"} and sys.stderr.isatty()


def progress(iterable=None, **kwargs):
    """``tqdm`` over ``iterable`` that disables itself in CI and in pipes."""
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, disable=not enabled(), **kwargs)
