"""DVC's provenance checked before DVC runs: the default remote is there, ``dvc.lock`` belongs to
``params.yaml``, the committed headline metrics parse. Each problem is one line naming the file.

``make study`` (through ``advlab check-params``), ``make push`` and ``make pull`` call these, so a
user meets our message instead of DVC's generic one.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from advlab.errors import AdvlabError

METRICS = Path("metrics")
LOCK = Path("dvc.lock")


def remote(action: str, root: Path = Path(".")) -> str:
    """The default DVC remote, checked for ``action`` (``push`` or ``pull``); returns a description.

    A local remote must exist to pull from, and its parent folder must exist to push to (DVC would
    create any missing folders, so a typo would silently start a new remote)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        config = repo.config
    name = config["core"].get("remote")
    if not name:
        raise AdvlabError("no default DVC remote in .dvc/config: add one, e.g. "
                          "`dvc remote add -d local ../../advlab-dvc-remote` (see README, 'Sharing results')")
    if name not in config["remote"]:
        raise AdvlabError(f".dvc/config: core.remote names '{name}', which is not a configured remote "
                          f"(have: {', '.join(config['remote']) or 'none'}); `dvc remote add {name} URL` adds it")
    url = str(config["remote"][name]["url"])
    if "://" in url:  # an object store: DVC checks credentials and the bucket itself
        return f"remote '{name}' ({url})"
    path = Path(url)
    if action == "pull" and not path.is_dir():
        raise AdvlabError(f"DVC remote '{name}' is {path}, which does not exist: run `make push` in the clone "
                          f"that ran the study, or point the remote at it (`dvc remote modify {name} url PATH`)")
    if action == "push" and not path.parent.is_dir():
        raise AdvlabError(f"DVC remote '{name}' is {path}, but its folder {path.parent} does not exist: create it, "
                          f"or point the remote elsewhere (`dvc remote modify {name} url PATH`)")
    return f"remote '{name}' ({path})"


def lock_mismatch(raw_params: dict, lock: Path = LOCK) -> str | None:
    """A line when ``dvc.lock`` records another dataset or split than ``params.yaml`` (another
    profile): ``dvc repro`` then reruns every stage and rewrites it."""
    if not lock.is_file():
        return None
    try:
        recorded = yaml.safe_load(lock.read_text()) or {}
        prepare = recorded["stages"]["prepare"]["params"]["params.yaml"]
    except (yaml.YAMLError, KeyError, TypeError) as err:
        raise AdvlabError(f"{lock} is not a DVC lock file ({type(err).__name__}: {err}); "
                          f"`git checkout {lock}` restores the committed one, or delete it to start afresh") from None
    for key in ("data.dataset", "split.seed", "split.target_pool"):
        section, field = key.split(".")
        was = (prepare.get(section) or {}).get(field)
        now = (raw_params.get(section) or {}).get(field)
        if was != now:
            return (f"note: {lock} was recorded with {key} = {was!r}, params.yaml has {now!r} (another profile?): "
                    f"`dvc repro` reruns every stage and rewrites it; `git checkout {lock} params.yaml` restores "
                    f"the committed pair")
    return None


def check_metrics(folder: Path = METRICS) -> None:
    """Every headline metrics file parses as a JSON object of numbers."""
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise AdvlabError(f"{path} is not valid JSON ({err}): `git checkout {path}` restores the committed "
                              f"one, `dvc repro -f report@{path.stem}` rewrites it") from None
        if not isinstance(data, dict):
            raise AdvlabError(f"{path} must hold a JSON object of headline numbers (got {type(data).__name__}): "
                              f"`dvc repro -f report@{path.stem}` rewrites it")


# --- What a rendered report says about the run behind it -----------------------------------------

# Files a run itself rewrites: their changes do not make the tree "dirty" for the run's header.
PIPELINE_WRITES = ("dvc.lock", "reports/", "metrics/")


def commit(root: Path = Path(".")) -> str:
    """``<short hash>`` of HEAD, with ``+ local changes`` when a tracked file other than what the
    pipeline itself writes differs from it; ``unknown (not a git checkout)`` outside git."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout

    try:
        head = git("rev-parse", "--short=10", "HEAD").strip()
        changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    edits = [path for path in changed if not path.startswith(PIPELINE_WRITES)]
    return f"{head} + local changes ({', '.join(edits[:3])}{', …' if len(edits) > 3 else ''})" if edits else head


def machine() -> str:
    """CPU model and cores, and the GPU when torch sees one."""
    import os
    import platform
    import sys

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores"
    torch = sys.modules.get("torch")  # only when the stage loaded it anyway (report and index need no torch)
    if torch is not None and torch.cuda.is_available():
        text += f"; GPU {torch.cuda.get_device_name(0)}"
    return text


def stage_inputs(stage: str, root: Path = Path(".")) -> tuple[str, dict[str, str]]:
    """The hashes DVC records in ``dvc.lock`` for ``stage``'s dependencies (computed now, as
    ``dvc repro`` does before it runs the stage), and one digest of them all: md5 of the sorted
    ``path hash`` lines. A report names what it was rendered from without waiting for its own
    lock entry, which DVC writes only after the stage."""
    import hashlib

    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        (found,) = repo.stage.collect(stage)
        hashes = {str(dep.def_path): str(dep.get_hash().value) for dep in found.deps}
    digest = hashlib.md5("".join(f"{p} {h}\n" for p, h in sorted(hashes.items())).encode()).hexdigest()
    return digest, hashes


def profile_state(raw: dict, profile: str) -> str:
    """``tiny`` when params.yaml equals what ``advlab profile tiny`` writes, else ``tiny, edited
    (N keys differ: …)``."""
    from advlab import profiles

    try:
        written = profiles.resolve(profile)
    except AdvlabError:
        return f"{profile} (no profiles/{profile}.yaml)"
    diff = profiles.changes(written, raw)
    if not diff:
        return profile
    keys = [line.split(":", 1)[0] for line in diff]
    return f"{profile}, edited ({len(keys)} key(s) differ from the profile: {', '.join(keys[:3])}{', …' if len(keys) > 3 else ''})"
