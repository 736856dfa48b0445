"""Atomic file output: a killed stage never leaves a half-written result.

Every writer goes to a temporary file in the destination folder and renames it
into place (``os.replace`` is atomic on POSIX within one file system). A writer killed
with SIGKILL cannot remove its temporary file (no ``finally`` runs), so the next writer
of the same path removes it. A folder that must change as a whole (a report's figures)
is built elsewhere on the same file system and swapped in by :func:`install`.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)
_MKSTEMP_NAME = re.compile(r"[a-z0-9_]{8}")  # the random part of tempfile.mkstemp's names


def remove_stale_temps(path: str | os.PathLike, suffix: str = ".tmp") -> None:
    """Remove the temporary files :func:`atomic_path` made for ``path`` and a killed writer left."""
    path = Path(path)
    prefix = f".{path.name}."
    for old in path.parent.glob(glob.escape(prefix) + "*" + glob.escape(suffix)):
        if _MKSTEMP_NAME.fullmatch(old.name[len(prefix):len(old.name) - len(suffix)]):
            old.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Temporary files of ``path`` left by a writer killed earlier are removed first (one
    writer per path at a time, as in every stage)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path, suffix)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs should be readable
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if os.name != "posix":
        return False
    import ctypes
    import ctypes.util

    fn = getattr(ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True), "renameat2", None)
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    return False  # EINVAL (a file system without it), ENOSYS: fall back to two renames


def install(staged: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Move the complete file or folder ``staged`` onto ``dest`` (same file system).

    A file is renamed over ``dest`` atomically. A folder replaces ``dest`` as a whole: on
    Linux the two are exchanged in one step, elsewhere the old one is first renamed aside
    (so ``dest`` is missing for an instant, never half old and half new); the old folder
    is then deleted, so nothing it held lingers."""
    staged, dest = Path(staged), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not staged.is_dir():
        os.replace(staged, dest)
        return
    if dest.is_dir() and _exchange(staged, dest):
        shutil.rmtree(staged)  # now the old folder
        return
    aside = staged.with_name(staged.name + ".old")
    shutil.rmtree(aside, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.rename(dest, aside)
    os.rename(staged, dest)
    shutil.rmtree(aside, ignore_errors=True)


def _default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_default) + "\n")


def read_json(path) -> Any:
    return json.loads(Path(path).read_text())


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_npz(path, **arrays: np.ndarray) -> None:
    """Write arrays uncompressed (fast to load); the file name keeps its ``.npz``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def read_npz(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_csv(path, frame) -> None:
    """Write a pandas DataFrame as CSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def sha256_of(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]
