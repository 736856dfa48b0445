"""Saved model outputs ("signals") that every membership attack works on.

Following ML Privacy Meter and LiRA's reference code (Carlini et al. 2022,
``inference.py``), models are queried once and their logits saved; attacks then
re-run in seconds without touching a model. A signal set holds, for ``M`` models
and a pool of ``N`` examples:

* ``logits[m, i, q, :]``: float32 logits of model ``m`` on example ``i`` under
  augmented query ``q`` (identity, horizontal flip, small shifts), ``K`` classes;
* ``labels[i]``: the true label;
* ``keep[m, i]``: True when ``i`` was in ``m``'s training set;
* ``plan_hash``: identifies the split plan that produced ``keep``; signals from
  different plans must never be combined (:func:`check_same_plan`).

On disk a signal set is ``<stem>.npz`` (arrays, loaded with ``allow_pickle=False``)
plus ``<stem>.json`` (``plan_hash``, the query names and free-form ``meta``).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advlab.errors import AdvlabError, check
from advlab.io import atomic_path

#: ``compute_logits``' default: identity, horizontal flip and four 2-pixel shifts (the membership
#: family derives its own set from the training recipe: :func:`training_queries`)
DEFAULT_QUERIES: tuple[str, ...] = ("id", "flip", "shift:2:0", "shift:-2:0", "shift:0:2", "shift:0:-2")

_QUERY_RE = re.compile(r"^(flip\+)?shift:(-?\d+):(-?\d+)$")
QUERY_NAMES = "'id', 'flip', 'shift:DX:DY', 'flip+shift:DX:DY'"


def query_problem(query) -> str | None:
    """Why ``query`` is not a query name :func:`apply_query` knows, or None when it is."""
    if isinstance(query, str) and (query in ("id", "flip") or _QUERY_RE.match(query)):
        return None
    return f"unknown query {query!r}; allowed: {QUERY_NAMES}"


def training_queries(augment: Sequence[str], side: int) -> list[str]:
    """The queries that match a training recipe's augmentations (Carlini et al. 2022 query a model
    with the augmentations it was trained with), for images ``side`` pixels wide:

    ``id``; ``flip`` when ``hflip`` is in ``augment``; when ``crop`` is, the four shifts by the
    crop's pad (:func:`advlab.data.augment.crop_pad`) along each axis; with both, the same four
    shifts of the flipped image. At most 10 queries (LiRA's reference code uses 18: flip × a 3×3
    grid of shifts; we leave out the diagonal ones to keep the signal files small).
    """
    from advlab.data.augment import AUGMENTATIONS, crop_pad

    unknown = [a for a in augment if a not in AUGMENTATIONS]
    check(not unknown, f"no query matches the augmentation(s) {unknown}; known: {', '.join(AUGMENTATIONS)}")
    out = ["id"] + (["flip"] if "hflip" in augment else [])
    if "crop" in augment:
        p = crop_pad(side)
        shifts = [f"shift:{p}:0", f"shift:{-p}:0", f"shift:0:{p}", f"shift:0:{-p}"]
        out += shifts + ([f"flip+{q}" for q in shifts] if "hflip" in augment else [])
    return out


@dataclass
class Signals:
    """Logits of ``M`` models on ``N`` pool examples under ``Q`` queries, ``K`` classes.

    ``source`` is where the set was loaded from (for error messages); it is not saved.
    """

    logits: np.ndarray  # (M, N, Q, K) float32
    labels: np.ndarray  # (N,) int64
    keep: np.ndarray  # (M, N) bool
    plan_hash: str
    meta: dict = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        self.logits = np.asarray(self.logits, dtype=np.float32)
        self.labels = np.asarray(self.labels)
        self.keep = np.asarray(self.keep)
        check(self.logits.ndim == 4, f"Signals.logits must have shape (M, N, Q, K); got shape {self.logits.shape}")
        m, n, q, k = self.logits.shape
        check(k >= 2, f"Signals.logits needs K >= 2 classes; got K={k}")
        check(q >= 1, f"Signals.logits needs at least one query; got Q={q}")
        check(
            self.labels.shape == (n,) and np.issubdtype(self.labels.dtype, np.integer),
            f"Signals.labels must be an integer array of shape ({n},); got {self.labels.dtype} {self.labels.shape}",
        )
        self.labels = self.labels.astype(np.int64)
        check(
            n == 0 or (self.labels.min() >= 0 and self.labels.max() < k),
            f"Signals.labels must lie in [0, {k}); got range [{self.labels.min()}, {self.labels.max()}]",
        )
        check(
            self.keep.shape == (m, n) and self.keep.dtype == np.bool_,
            f"Signals.keep must be a bool array of shape ({m}, {n}); got {self.keep.dtype} {self.keep.shape}",
        )
        check(isinstance(self.plan_hash, str) and self.plan_hash != "", "Signals.plan_hash must be a non-empty string")

    @property
    def n_models(self) -> int:
        return self.logits.shape[0]

    @property
    def n_examples(self) -> int:
        return self.logits.shape[1]

    @property
    def n_queries(self) -> int:
        return self.logits.shape[2]

    @property
    def n_classes(self) -> int:
        return self.logits.shape[3]

    @property
    def name(self) -> str:
        return self.source or f"<signals plan {self.plan_hash}>"

    def select_models(self, idx) -> "Signals":
        """A new set with only the models ``idx`` (int, slice, list or bool mask)."""
        idx = np.atleast_1d(np.arange(self.n_models)[idx])
        return Signals(self.logits[idx], self.labels, self.keep[idx], self.plan_hash, dict(self.meta), self.source)

    def select_examples(self, idx) -> "Signals":
        """A new set with only the pool examples ``idx``."""
        idx = np.atleast_1d(np.arange(self.n_examples)[idx])
        return Signals(self.logits[:, idx], self.labels[idx], self.keep[:, idx], self.plan_hash, dict(self.meta), self.source)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``<stem>.npz`` and ``<stem>.json`` atomically; returns the .npz path."""
        npz = Path(path).with_suffix(".npz")
        npz.parent.mkdir(parents=True, exist_ok=True)
        sidecar = {
            "plan_hash": self.plan_hash,
            "shape": {"models": self.n_models, "examples": self.n_examples, "queries": self.n_queries, "classes": self.n_classes},
            "meta": self.meta,
        }
        _atomic_write(npz, lambda f: np.savez(f, logits=self.logits, labels=self.labels, keep=self.keep,
                                              plan_hash=np.array(self.plan_hash)))
        _atomic_write(npz.with_suffix(".json"), lambda f: f.write(json.dumps(sidecar, indent=2, sort_keys=True).encode()))
        return npz

    @classmethod
    def load(cls, path: str | os.PathLike, hint: str = "recompute it (Signals.save)") -> "Signals":
        """Read a set written by :meth:`save` (no pickle); a missing, damaged or inconsistent
        file is one :class:`AdvlabError` naming it and ending with ``hint`` (how to rebuild it)."""
        npz = Path(path).with_suffix(".npz")
        side = npz.with_suffix(".json")
        check(npz.is_file(), f"signals file {str(npz)!r} does not exist; {hint}")
        check(side.is_file(), f"signals sidecar {str(side)!r} does not exist (written next to {npz.name} by "
                              f"Signals.save); {hint}")
        try:
            with np.load(npz, allow_pickle=False) as z:
                logits, labels, keep = z["logits"], z["labels"], z["keep"]
                stored_hash = str(z["plan_hash"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise AdvlabError(f"{npz}: damaged or truncated signals file ({type(err).__name__}: {err}); {hint}") from None
        try:
            sidecar = json.loads(side.read_text())
            if not isinstance(sidecar, dict) or not isinstance(sidecar.get("meta", {}), dict):
                raise ValueError("expected a JSON object with plan_hash and meta")
        except (OSError, ValueError) as err:
            raise AdvlabError(f"{side}: damaged signals sidecar ({type(err).__name__}: {err}); {hint}") from None
        check(
            sidecar.get("plan_hash") == stored_hash,
            f"{npz} and {side} disagree on plan_hash ({stored_hash!r} vs {sidecar.get('plan_hash')!r}); {hint}",
        )
        try:
            return cls(logits, labels, keep, stored_hash, sidecar.get("meta", {}), str(npz))
        except (AdvlabError, ValueError, TypeError) as err:
            raise AdvlabError(f"{npz}: inconsistent signals file ({err}); {hint}") from None


def _atomic_write(path: Path, write) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def check_same_plan(*signals: Signals) -> str:
    """Raise :class:`AdvlabError` unless every set shares one ``plan_hash``; return it.

    Combining signals from two split plans would silently mislabel members, so the
    message names both files and both hashes.
    """
    check(len(signals) >= 1, "check_same_plan needs at least one Signals")
    first = signals[0]
    for other in signals[1:]:
        if other.plan_hash != first.plan_hash:
            raise AdvlabError(
                f"signals come from different split plans: {first.name} has plan_hash {first.plan_hash!r} "
                f"but {other.name} has plan_hash {other.plan_hash!r}; recompute them from the same plan"
            )
    return first.plan_hash


def concat_models(*signals: Signals) -> Signals:
    """Stack the models of several sets over the same pool (same plan, labels, queries)."""
    plan = check_same_plan(*signals)
    first = signals[0]
    for s in signals[1:]:
        check(
            s.logits.shape[1:] == first.logits.shape[1:] and np.array_equal(s.labels, first.labels),
            f"cannot concatenate {s.name} with {first.name}: pools differ "
            f"(shape {s.logits.shape[1:]} vs {first.logits.shape[1:]} or different labels)",
        )
    return Signals(np.concatenate([s.logits for s in signals]), first.labels,
                   np.concatenate([s.keep for s in signals]), plan, dict(first.meta))


def apply_query(x: torch.Tensor, query: str) -> torch.Tensor:
    """Apply one named query to a batch ``(B, C, H, W)`` in [0, 1].

    Names: ``id``; ``flip`` (horizontal); ``shift:dx:dy`` and ``flip+shift:dx:dy``,
    translating by ``dx`` pixels right and ``dy`` down with reflect padding, as LiRA's
    reference ``inference.py`` pads with ``mode='reflect'`` and crops.
    """
    if query == "id":
        return x
    if query == "flip":
        return x.flip(-1)
    check(query_problem(query) is None, query_problem(query) or "")
    m = _QUERY_RE.match(query)
    flip, dx, dy = m.group(1) is not None, int(m.group(2)), int(m.group(3))
    if flip:
        x = x.flip(-1)
    h, w = x.shape[-2:]
    check(abs(dx) < w and abs(dy) < h, f"query {query!r} shifts by more than the image size {h}x{w}")
    p = max(abs(dx), abs(dy))
    if p == 0:
        return x
    xp = F.pad(x, (p, p, p, p), mode="reflect")
    # output pixel (r, c) = input pixel (r - dy, c - dx)
    return xp[..., p - dy : p - dy + h, p - dx : p - dx + w]


@torch.no_grad()
def compute_logits(model: nn.Module, x: torch.Tensor, queries: Sequence[str] = DEFAULT_QUERIES,
                   batch_size: int = 256, device: str | torch.device | None = None) -> np.ndarray:
    """Logits ``(N, Q, K)`` float32 of ``model`` on ``x`` ``(N, C, H, W)`` in [0, 1] under each query.

    The model is put in eval mode for the call and restored afterwards.
    """
    check(x.ndim == 4, f"x must have shape (N, C, H, W); got {tuple(x.shape)}")
    check(len(queries) >= 1, "queries must name at least one query")
    check(batch_size >= 1, f"batch_size must be >= 1; got {batch_size}")
    for q in queries:  # fail before any work
        apply_query(x[:1], q)
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        out = []
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            out.append(torch.stack([model(apply_query(xb, q)).float() for q in queries], 1))
    finally:
        model.train(was_training)
    return torch.cat(out).cpu().numpy().astype(np.float32)  # one copy back, not one per batch


def compute_signals(models: Sequence[nn.Module], x: torch.Tensor, labels, keep, plan_hash: str,
                    queries: Sequence[str] = DEFAULT_QUERIES, batch_size: int = 256,
                    device: str | torch.device | None = None, meta: dict | None = None) -> Signals:
    """Query every model on the pool ``x`` and bundle the logits with ``labels``, ``keep``, ``plan_hash``."""
    labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    keep = np.asarray(keep, dtype=bool)
    check(keep.shape == (len(models), x.shape[0]),
          f"keep must have shape (n_models, n_examples) = ({len(models)}, {x.shape[0]}); got {keep.shape}")
    logits = np.stack([compute_logits(m, x, queries, batch_size, device) for m in models])
    return Signals(logits, labels, keep, plan_hash, {**(meta or {}), "queries": list(queries)})
