"""Profiles: ``profiles/default.yaml`` is the whole default; other profiles are overlays.

``advlab profile NAME`` writes ``params.yaml`` = default deep-merged with
``profiles/NAME.yaml`` (after validating the result), so a profile lists only what
it changes; an entry of a mapping set to ``null`` (a model, say) is removed. ``advlab profile default`` switches back.
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


def resolve(name: str, folder: Path = PROFILES) -> dict:
    """The full params mapping of profile ``name``."""
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise AdvlabError(f"unknown profile {name!r}; profiles are: {', '.join(available(folder))}")
    raw = read_yaml(folder / "default.yaml")
    if name != "default":
        raw = deep_merge(raw, read_yaml(path) or {})
    return raw


def switch(name: str, target: Path = Path("params.yaml"), folder: Path = PROFILES) -> Params:
    raw = resolve(name, folder)
    params = validate(raw, f"profile {name}")
    if name == "default":  # verbatim, comments included
        write_text(target, (folder / "default.yaml").read_text())
        return params
    header = (f"# advlab parameters: profile '{name}', written by `advlab profile {name}` from "
              f"profiles/default.yaml{'' if name == 'default' else f' + profiles/{name}.yaml'}.\n"
              "# Edit freely; `advlab check-params` validates; `dvc repro` reruns what a change touches.\n")
    write_text(target, header + yaml.safe_dump(raw, sort_keys=False, default_flow_style=None, width=110))
    return params
