"""Every stage's ``deps`` cover every project module it imports (so a code change reruns it).

The stages come from DVC itself (``Repo.index.stages``, with ``foreach`` resolved against
params.yaml). A stage's imports are the transitive closure, over ``src/advlab``, of every
``import`` statement (module level or inside a function) and every ``"advlab.x.y"`` string
(a registry's package imported on first lookup). Edges out of ``advlab.params`` are left out:
the schema imports registries only to check names, which changes whether a run starts, not
what it computes.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
MODULE_RE = re.compile(r"^advlab(\.\w+)*$")
VALIDATION_ONLY = "advlab.params"


def module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


@cache
def direct_imports(name: str) -> frozenset[str]:
    path = module_file(name)
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_RE.match(node.value):
            found.add(node.value)
    out = set()
    for imp in found:
        if imp.split(".")[0] != "advlab":
            continue
        parts = imp.split(".")
        # importing a.b.c runs a/__init__, a/b/__init__ too
        out |= {".".join(parts[:i]) for i in range(2, len(parts) + 1) if module_file(".".join(parts[:i]))}
    return frozenset(out)


def closure(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        if m == VALIDATION_ONLY or m.startswith(VALIDATION_ONLY + "."):
            continue
        todo.extend(direct_imports(m))
    return seen


def docstring_only(path: Path) -> bool:
    """A module with nothing but a docstring (a package's ``__init__``) cannot change a result."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def covered(path: Path, deps: list[str]) -> bool:
    if docstring_only(path):
        return True
    rel = path.relative_to(ROOT).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


def pipeline_stages():
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        out = []
        for st in repo.index.stages:
            m = re.search(r"python -m (advlab[\w.]*)", st.cmd or "")
            if m:
                out.append((st.addressing, m.group(1), [d.def_path for d in st.deps]))
        return out


STAGES = pipeline_stages()


def test_every_stage_runs_a_project_module():
    assert len(STAGES) >= 10, STAGES


@pytest.mark.parametrize("stage,module,deps", STAGES, ids=[s[0] for s in STAGES])
def test_stage_deps_cover_its_imports(stage, module, deps):
    missing = sorted({module_file(m).relative_to(ROOT).as_posix() for m in closure(module)
                      if m != "advlab" and not covered(module_file(m), deps)})
    assert not missing, f"{stage}: imports modules its deps in dvc.yaml do not cover: {missing}"


def test_checker_sees_lazy_and_registry_imports(tmp_path):
    """The checker itself: an import inside a function and a registry's package string count."""
    assert "advlab.stages.common" in closure("advlab.stages.train")
    assert any(m.startswith("advlab.training") for m in closure("advlab.stages.train"))
