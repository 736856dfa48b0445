"""What every stage shares: params loading, device choice, and user-error handling."""

from __future__ import annotations

import functools
import os
import sys
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


def stage(fn):
    """Run a stage's ``main``; a user error prints one message, no traceback, exit 2."""

    @functools.wraps(fn)
    def wrapper(argv: list[str] | None = None) -> int:
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
