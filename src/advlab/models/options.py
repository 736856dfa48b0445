"""Checks of architecture options, shared by the zoo's architectures (each registers a
``check(options, input_shape) -> list[str]`` in :data:`~advlab.models.registry.MODELS`).

A check returns one line per problem, ``<option>: <what is wrong> (got <value>)``, so the
params schema can prefix the key path (``models.cnn.options.width: ...``) and the zoo can
refuse to build. ``input_shape`` is ``None`` when the dataset is not known yet (shape-
dependent checks are then skipped).
"""

from __future__ import annotations

from collections.abc import Iterable


def unknown(options: dict, allowed: Iterable[str]) -> list[str]:
    allowed = sorted(allowed)
    return [f"{k}: unknown option of this architecture (allowed: {', '.join(allowed)})"
            for k in options if k not in allowed]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def int_at_least(options: dict, key: str, low: int = 1) -> list[str]:
    if key in options and not (_is_int(options[key]) and options[key] >= low):
        return [f"{key}: must be an integer >= {low} (got {options[key]!r})"]
    return []


def positive(options: dict, key: str) -> list[str]:
    if key in options and not (_is_num(options[key]) and options[key] > 0):
        return [f"{key}: must be a number > 0 (got {options[key]!r})"]
    return []


def dropout(options: dict, key: str = "dropout") -> list[str]:
    if key in options and not (_is_num(options[key]) and 0 <= options[key] < 1):
        return [f"{key}: must be a probability in [0, 1) (got {options[key]!r})"]
    return []


def one_of(options: dict, key: str, choices: Iterable[str]) -> list[str]:
    choices = list(choices)
    if key in options and options[key] not in choices:
        return [f"{key}: must be one of {', '.join(choices)} (got {options[key]!r})"]
    return []


def int_list(options: dict, key: str, low: int = 1) -> list[str]:
    if key in options:
        v = options[key]
        if not (isinstance(v, (list, tuple)) and v and all(_is_int(x) and x >= low for x in v)):
            return [f"{key}: must be a non-empty list of integers >= {low} (got {v!r})"]
    return []
