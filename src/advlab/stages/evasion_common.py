"""What the evasion family's stages share: the checked params section, trained models,
the attack-evaluation subset, batched attacks, and inference-time defenses by name."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from advlab.attacks import AttackResult, run_attack
from advlab.data.prepared import load_prepared, to_tensors
from advlab.defenses.transforms import BitDepthReduction, JPEGCompression, MedianFilter, RandomResizePad
from advlab.errors import AdvlabError
from advlab.models.checkpoint import load_trained
from advlab.stages.common import family

RESULTS = Path("results/evasion")
DEFENSE_KINDS = ("bit_depth", "median", "jpeg", "resize_pad")


def section(p):
    return family(p, "evasion")


def trained(name: str, plan, device) -> nn.Module:
    """``models/<name>``, checked against the current split plan, in eval mode."""
    folder = Path("models") / name
    if not (folder / "model.json").is_file():
        raise AdvlabError(f"{folder} is missing: run `dvc repro train@{name}` first")
    return load_trained(name, plan.hash, device)[0]


def eval_subset(n: int):
    """The first ``n`` examples of the plan's attack-evaluation subset: ``(ds, plan, x, y)``."""
    ds, plan = load_prepared()
    idx = plan["attack_eval"][:n]
    x, y = to_tensors(ds, idx)
    return ds, plan, x, y


def merge(results: list[AttackResult]) -> AttackResult:
    """Concatenate per-batch results of one attack (same attack, same parameters)."""
    first = results[0]
    fields = ["x_adv", "success", "queries", "linf", "l2", "y", "clean_pred", "adv_pred", "probs_clean", "probs_adv"]
    cat = {f: torch.cat([getattr(r, f) for r in results]) for f in fields}
    return AttackResult(**cat, attack=first.attack, objective=first.objective, params=first.params)


def attack_batched(name: str, model, x, y, batch_size: int, device, seed: int = 0, **params) -> AttackResult:
    """``run_attack`` over mini-batches (seed ``seed + batch index``); the parameters are
    checked on the first batch before any long work."""
    out = []
    for b, i in enumerate(range(0, len(x), batch_size)):
        out.append(run_attack(name, model, x[i : i + batch_size].to(device), y[i : i + batch_size].to(device),
                              seed=seed + b, **params))
    return merge(out)


def make_transform(kind: str, options: dict, bpda: bool = False, seed: int = 0) -> nn.Module:
    """An inference-time defense by kind; a bad kind or option is an error naming it."""
    opts = dict(options)
    try:
        if kind == "bit_depth":
            return BitDepthReduction(bpda=bpda, **opts)
        if kind == "median":
            return MedianFilter(bpda=bpda, **opts)
        if kind == "jpeg":
            return JPEGCompression(bpda=bpda, **opts)
        if kind == "resize_pad":
            return RandomResizePad(seed=opts.pop("seed", seed), **opts)
    except TypeError as err:
        raise AdvlabError(f"defense {kind!r}: bad options {sorted(options)} ({err})") from None
    raise AdvlabError(f"defense kind {kind!r} does not exist; allowed: {', '.join(DEFENSE_KINDS)}")
