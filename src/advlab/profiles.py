"""Profiles: ``profiles/default.yaml`` is the whole default; other profiles are overlays.

``advlab profile NAME`` writes ``params.yaml`` = default deep-merged with
``profiles/NAME.yaml`` (after validating the result), so a profile lists only what
it changes; an entry of a mapping set to ``null`` (a model, say) is removed. ``advlab profile default`` switches back.

A profile may overlay another profile instead of the default: a top-level ``base: full``
(resolved recursively; ``base`` itself is not a params key) makes ``profiles/NAME.yaml`` an
overlay on the resolved ``full`` profile, so ``full-smoke`` can shrink only the sizes of
``full``. Without ``base`` the base is ``default``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from advlab.errors import AdvlabError
from advlab.io import write_text
from advlab.params import Params, read_yaml, validate

PROFILES = Path("profiles")


def deep_merge(base: dict, overlay: dict) -> dict:
    """Mappings merge key by key; any other value (lists included) replaces.

    ``null`` over a mapping removes that entry (a model, a target variant, a
    defense), so a smaller profile can drop what it does not need; ``null`` over
    a plain value sets it to null.
    """
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if value is None and isinstance(out.get(key), dict):
            del out[key]
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def available(folder: Path = PROFILES) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def chain(name: str, folder: Path = PROFILES) -> list[str]:
    """The profiles ``name`` is built from, outermost first: ``['default', 'full', 'full-smoke']``."""
    names: list[str] = []
    while True:
        if name in names:
            raise AdvlabError(f"profiles/{names[-1]}.yaml: 'base: {name}' makes a cycle "
                              f"({' -> '.join(names)} -> {name}); point base at a profile that does not "
                              "lead back")
        path = folder / f"{name}.yaml"
        if not path.is_file():
            where = f" (base of profiles/{names[-1]}.yaml)" if names else ""
            raise AdvlabError(f"unknown profile {name!r}{where}; profiles are: {', '.join(available(folder))}")
        names.append(name)
        if name == "default":
            return names[::-1]
        base = _overlay(path).get("base", "default")
        if not isinstance(base, str):
            raise AdvlabError(f"{path}: base must be a profile name, got {base!r}; write e.g. 'base: full'")
        name = base


def _overlay(path: Path) -> dict:
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise AdvlabError(f"{path}: a profile must be a mapping of params keys, got {type(raw).__name__}")
    return raw


def resolve(name: str, folder: Path = PROFILES) -> dict:
    """The full params mapping of profile ``name``: default, then each overlay of its ``base`` chain."""
    names = chain(name, folder)
    raw = read_yaml(folder / "default.yaml")
    for overlay in names[1:]:
        layer = _overlay(folder / f"{overlay}.yaml")
        layer.pop("base", None)
        raw = deep_merge(raw, layer)
    return raw


def switch(name: str, target: Path = Path("params.yaml"), folder: Path = PROFILES) -> Params:
    raw = resolve(name, folder)
    params = validate(raw, f"profile {name}")
    if name == "default":  # verbatim, comments included
        write_text(target, (folder / "default.yaml").read_text())
        return params
    sources = " + ".join(f"profiles/{n}.yaml" for n in chain(name, folder))
    header = (f"# advlab parameters: profile '{name}', written by `advlab profile {name}` from {sources}.\n"
              "# Edit freely; `advlab check-params` validates; `dvc repro` reruns what a change touches.\n")
    write_text(target, header + yaml.safe_dump(raw, sort_keys=False, default_flow_style=None, width=110))
    return params
