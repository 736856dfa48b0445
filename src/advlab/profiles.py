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
    if name != "default":  # its reports beside the committed default ones, never over them
        raw["output"] = {"profile": name, "reports": f"reports/{name}", "metrics": f"reports/{name}/metrics"}
    for overlay in names[1:]:
        layer = _overlay(folder / f"{overlay}.yaml")
        layer.pop("base", None)
        raw = deep_merge(raw, layer)
    return raw


def render(name: str, folder: Path = PROFILES) -> tuple[str, Params]:
    """The text ``advlab profile NAME`` writes to params.yaml, and its validated params."""
    raw = resolve(name, folder)
    params = validate(raw, f"profile {name}")
    if name == "default":  # verbatim, comments included
        return (folder / "default.yaml").read_text(), params
    sources = " + ".join(f"profiles/{n}.yaml" for n in chain(name, folder))
    header = (f"# advlab parameters: profile '{name}', written by `advlab profile {name}` from {sources}.\n"
              "# Edit freely; `advlab check-params` validates; `dvc repro` reruns what a change touches.\n")
    return header + yaml.safe_dump(raw, sort_keys=False, default_flow_style=None, width=110), params


def summary(name: str, folder: Path = PROFILES) -> str:
    """A profile's one-line description: the first sentence of its leading comment (at most 100 characters)."""
    lines = []
    for line in (folder / f"{name}.yaml").read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# "))
    sentence = " ".join(lines).split(". ")[0].rstrip(".")
    return sentence if len(sentence) <= 100 else sentence[:99].rstrip() + "…"


def changes(old, new, key: str = "") -> list[str]:
    """``key: old -> new`` for every leaf that differs between two params mappings."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [line for k in [*old, *(k for k in new if k not in old)]
                for line in changes(old.get(k, "(absent)"), new.get(k, "(absent)"), f"{key}.{k}" if key else str(k))]
    return [] if old == new else [f"{key}: {old!r} -> {new!r}"]


def switch(name: str, target: Path = Path("params.yaml"), folder: Path = PROFILES, force: bool = False) -> tuple[Params, list[str]]:
    """Write profile ``name`` to ``target``; returns its params and what changed (``key: old -> new``).

    A ``target`` that is not exactly some profile's text holds local edits: it is kept (an
    error says so) unless ``force``, which first copies it to ``<target>.bak``."""
    text, params = render(name, folder)
    old_text = target.read_text() if target.is_file() else None
    if old_text is not None and old_text != text:
        if old_text not in (render(n, folder)[0] for n in available(folder) if n != name):
            if not force:
                raise AdvlabError(f"{target} has local edits (it is not what any profile writes); "
                                  f"`advlab profile {name} --force` replaces it and keeps a copy in {target}.bak")
            write_text(target.with_name(target.name + ".bak"), old_text)
    try:
        old = yaml.safe_load(old_text) if old_text is not None else {}
    except yaml.YAMLError:
        old = {}
    write_text(target, text)
    return params, changes(old if isinstance(old, dict) else {}, yaml.safe_load(text))
