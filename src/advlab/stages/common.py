"""What every stage shares: params loading, device choice, user-error handling, and dying with DVC."""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from advlab import params as P
from advlab.errors import AdvlabError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when it is there."""
    import torch  # here, not at the top: the stages that run no model (report, index, check_params) never load it

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise AdvlabError("device: 'cuda' requested but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def load_params() -> P.Params:
    return P.load(os.environ.get("ADVLAB_PARAMS", P.PARAMS_FILE))


_SHELLS = {"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish"}
_lifeline_set = False


def _stat(pid: int) -> tuple[int, int]:
    """(parent pid, process group) of ``pid``, from /proc (the command name may hold spaces)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return int(fields[1]), int(fields[2])


def _is_shell_wrapper(pid: int) -> bool:
    """Is ``pid`` a ``sh -c '<cmd>'`` that forked the command instead of exec-ing it?"""
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        args = fh.read().split(b"\0")
    return os.path.basename(args[0].decode(errors="replace")).lstrip("-") in _SHELLS and b"-c" in args


def _stop(why: str) -> None:
    try:
        print(f"advlab: {why}; stopping this stage", file=sys.stderr, flush=True)
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


def die_with_dvc() -> None:
    """Under ``dvc repro`` (DVC sets ``DVC_STAGE``) on Linux, make this process die with DVC.

    Why: killing ``dvc`` with SIGKILL does not kill its children, so the stage ran on as an
    orphan and the next ``dvc repro`` ran the same stage beside it, both writing one set of
    outputs. DVC runs a stage as ``Popen([$SHELL, "-c", cmd])`` (dvc/stage/run.py; /bin/sh
    when SHELL is unset). bash execs a lone command, so our parent is DVC; dash (Debian's
    /bin/sh) forks and waits, so our parent is a shell that outlives DVC. Hence:

    * ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills us when our parent dies. It
      fires when the parent *thread* that forked us exits, not only the process; DVC's
      ``Popen`` runs in the thread that then waits for us in ``communicate()``, so that
      thread lives as long as we do. Not inherited by our own children: the papermill kernel
      exits when its parent changes (ipykernel's parent poller), DataLoader workers watch
      their parent, a Ray cluster the stage starts shares its fate.
    * parent is a ``sh -c`` wrapper: a daemon thread checks every second that the shell's
      parent is still DVC, and kills us when the shell has been re-parented.
    * already orphaned (DVC killed while this interpreter started and imported): the kernel
      re-parented us to init or a subreaper, outside our process group (DVC's ``Popen`` keeps
      DVC's group), so we stop at once. The ``getppid`` check after ``prctl`` closes the race
      of DVC dying between the two.

    A no-op elsewhere (macOS, Windows) and outside DVC (tests calling ``main`` directly).
    """
    global _lifeline_set
    if _lifeline_set or "DVC_STAGE" not in os.environ or not sys.platform.startswith("linux"):
        return
    _lifeline_set = True
    import ctypes

    parent = os.getppid()
    try:
        shell = _is_shell_wrapper(parent)
        dvc = _stat(parent)[0] if shell else parent
        if _stat(dvc)[1] != os.getpgrp():
            _stop(f"the process that ran this stage is gone (now {dvc})")
        pr_set_pdeathsig = 1
        if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) != 0:
            return
        if os.getppid() != parent:
            _stop("the process that ran this stage is gone")
    except OSError:  # no /proc, or the parent already reaped: the checks above cannot be made
        return
    if shell:
        def watch() -> None:
            while True:
                try:
                    if _stat(parent)[0] != dvc:
                        _stop(f"dvc (pid {dvc}) is gone")
                except OSError:  # the shell is gone: PDEATHSIG has fired or is about to
                    return
                threading.Event().wait(1.0)

        threading.Thread(target=watch, name="advlab-die-with-dvc", daemon=True).start()


def stage(fn):
    """Run a stage's ``main``; a user error prints one message, no traceback, exit 2.
    Under DVC the stage dies with the ``dvc`` process (:func:`die_with_dvc`)."""

    @functools.wraps(fn)
    def wrapper(argv: list[str] | None = None) -> int:
        die_with_dvc()
        argv = sys.argv[1:] if argv is None else argv
        try:
            fn(*argv)
        except AdvlabError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except TypeError as err:
            if "positional argument" in str(err):
                print(f"error: {fn.__module__}: wrong arguments {argv} ({err})", file=sys.stderr)
                return 2
            raise
        return 0

    return wrapper


def family(p: P.Params, name: str):
    """``params.<name>`` (a family's section), or a clear error when params.yaml lacks it."""
    section = getattr(p, name)
    if section is None:
        raise AdvlabError(f"params.yaml has no '{name}:' section; add one (see profiles/default.yaml)")
    return section


def require(name: str | None, names, key: str) -> None:
    """A stage's item ``name`` must be one of ``names``, the entries of params key ``key``."""
    if name is None or name not in names:
        raise AdvlabError(f"{name!r} is not under {key} in params.yaml (have {', '.join(names)}); "
                          f"add it there, or run one of those")
