"""GPU readiness: training throughput and peak GPU memory of every recipe a profile trains
(fp32 and bf16), and the estimated training wall time of the profile's `dvc repro`.

    uv run python benchmarks/gpu.py [--profile full] [--steps 300] [--warmup 20]
    uv run python benchmarks/gpu.py --device cpu --steps 5       # a smoke check without a GPU

Each distinct recipe (architecture, options, batch size, objective) is built at the
profile's options on random inputs of its dataset's shape (no download) and timed for
``--steps`` full training steps (augmentation on the device, forward and loss under the
precision's autocast, backward, optimiser step) after ``--warmup`` steps, with
``torch.cuda.synchronize()`` around the timed span. Without CUDA (and no ``--device cpu``)
it says so and exits 0.

The estimate sums ``epochs × training examples / samples per s`` over every model the
profile trains: the ``models:`` entries (``train@<model>``), the membership shadows,
references and target variants (``mia_train``) and the poisoning sweep's models
(``evasion_poison``). Assumptions, printed with the figure: training sets are the split's
members (target_pool/2, capped by ``max_members``, long-tailed per ``imbalance_ratio``), a
shadow or target trains on half the membership pool and a reference on
``reference_size`` (default half the pool); early stopping runs every epoch (an upper
bound); DP-SGD targets are counted at their recipe's non-private rate (Opacus'
per-sample gradients cost more: a lower bound); evaluation, signals, attacks and
reports are not counted (attack cost depends on queries, not on training rates).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from dataclasses import dataclass

import torch
from _spine import CLASSES, SHAPES

from advlab import profiles
from advlab.data.augment import augment
from advlab.data.longtail import long_tailed_counts
from advlab.models.zoo import build_model
from advlab.params import Params, validate
from advlab.study.membership.train import recipe as mia_recipe
from advlab.training.jobs import make_recipe_objective
from advlab.training.loop import autocast, make_optimizer

PRECISIONS = ("fp32", "bf16")


@dataclass
class Training:
    """``count`` models of one recipe, each ``epochs`` epochs over ``examples`` examples."""

    group: str
    key: str
    count: int
    epochs: int
    examples: int
    precision: str


def recipe_key(arch: str, options: dict, train) -> str:
    """What the training rate depends on (not epochs, set sizes or the precision, timed separately)."""
    t = train.model_dump()
    return json.dumps([arch, options, t["batch_size"], t["optimizer"], t["augment"], t["objective"],
                       t["objective_options"], t["label_smoothing"]], sort_keys=True, default=str)


def members(p: Params, train) -> int:
    n = p.split.target_pool // 2
    n = min(n, train.max_members) if train.max_members else n
    if train.imbalance_ratio is not None:
        k = CLASSES[p.data.dataset]
        n = int(long_tailed_counts(n // k, k, train.imbalance_ratio).sum())
    return n


def trainings(p: Params) -> tuple[list[Training], dict[str, tuple]]:
    """Every training of the profile and, per recipe key, ``(name, arch, options, train)`` to time."""
    recipes: dict[str, tuple] = {}
    out: list[Training] = []

    def add(group, name, arch, options, train, count, examples):
        key = recipe_key(arch, options, train)
        recipes.setdefault(key, (name, arch, options, train))
        out.append(Training(group, key, count, train.epochs, examples, train.precision))

    for name, mp in p.models.items():
        add("models (train@)", name, mp.arch, dict(mp.options), mp.train, 1, members(p, mp.train))
    m = p.membership
    pool = p.split.target_pool if m.pool is None else m.pool
    base = mia_recipe(p)
    add("membership shadows", "mia recipe", base.arch, base.options, base.train, p.split.shadow_models, pool // 2)
    add("membership references", "mia recipe", base.arch, base.options, base.train, m.references,
        m.reference_size or pool // 2)
    for variant in m.targets:
        r = mia_recipe(p, variant)
        add("membership targets", f"mia {variant}", r.arch, r.options, r.train, 1, pool // 2)
    pp = p.evasion.poisoning
    mp = p.models[pp.model]
    from advlab.params import merge_train

    cfg = merge_train(mp.train, pp.train, where="evasion.poisoning.train")
    n_rates = len(pp.label_flip_rates) + len(pp.backdoor_rates)
    add("poisoning sweep", f"poison {pp.model}", mp.arch, dict(mp.options), cfg, n_rates, members(p, cfg))
    return out, recipes


def time_recipe(arch, options, train, shape, k, device, precision, steps, warmup, batch_size=None):
    """``(samples/s, peak GPU bytes or None, parameter count)`` of ``steps`` training steps."""
    torch.manual_seed(0)
    model = build_model(arch, shape, k, **options).to(device).train()
    opt = make_optimizer(model, train)
    objective = make_recipe_objective(train)
    b = batch_size or train.batch_size
    x, y = torch.rand(b, *shape, device=device), torch.randint(0, k, (b,), device=device)

    def step():
        with autocast(precision, device):
            loss = objective(model, augment(x, train.augment), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    cuda = torch.device(device).type == "cuda"
    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    rate = steps * b / (time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() if cuda else None
    n_params = sum(q.numel() for q in model.parameters())
    del model, opt, x, y
    if cuda:
        torch.cuda.empty_cache()
    return rate, peak, n_params


def hours(items: list[Training], rates: dict, precision: str | None) -> float:
    """Training hours of ``items``, each at its own precision (``None``) or at ``precision``."""
    return sum(t.count * t.epochs * t.examples / rates[t.key, precision or t.precision] for t in items) / 3600


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="full")
    ap.add_argument("--device", default=None, help="cuda (default when available) or cpu (a smoke check)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=None, help="time at this batch size instead (smoke checks)")
    args = ap.parse_args(argv)
    if args.device is None:
        if not torch.cuda.is_available():
            print(f"no CUDA device on this machine (torch {torch.__version__}): nothing to time. "
                  "Run it on a GPU machine, or pass --device cpu --steps 5 for a smoke check.")
            return 0
        args.device = "cuda"
    device = torch.device(args.device)
    p = validate(profiles.resolve(args.profile))
    shape, k = SHAPES[p.data.dataset], CLASSES[p.data.dataset]
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"profile={args.profile} device={device} ({card}) torch={torch.__version__} input={shape} classes={k} "
          f"steps={args.steps} warmup={args.warmup}")
    items, recipes = trainings(p)
    used = defaultdict(int)
    for t in items:
        used[t.key] += t.count
    print(f"{'recipe (first user)':<20}{'arch':<13}{'objective':<14}{'params':>11}{'batch':>6}{'models':>7}"
          + "".join(f"{f'{q} samples/s':>18}{f'{q} peak MiB':>15}" for q in PRECISIONS))
    rates: dict[tuple[str, str], float] = {}
    for key, (name, arch, options, train) in recipes.items():
        cells = ""
        for q in PRECISIONS:
            rate, peak, n_params = time_recipe(arch, options, train, shape, k, device, q, args.steps, args.warmup,
                                               args.batch_size)
            rates[key, q] = rate
            cells += f"{rate:>18.0f}{(f'{peak / 2**20:.0f}' if peak is not None else '-'):>15}"
        b = args.batch_size or train.batch_size
        print(f"{name:<20}{arch:<13}{train.objective:<14}{n_params:>11,}{b:>6}{used[key]:>7}{cells}", flush=True)
    print(f"\nestimated training wall time of `dvc repro` (profile {args.profile}, one {device.type} device, "
          "one model at a time):")
    print(f"{'group':<24}{'models':>7}{'as configured h':>17}{'all fp32 h':>12}{'all bf16 h':>12}")
    groups = defaultdict(list)
    for t in items:
        groups[t.group].append(t)
    for g, its in [*groups.items(), ("total", items)]:
        n = sum(t.count for t in its)
        print(f"{g:<24}{n:>7}{hours(its, rates, None):>17.2f}{hours(its, rates, 'fp32'):>12.2f}"
              f"{hours(its, rates, 'bf16'):>12.2f}")
    print("assumptions: training only (evaluation, signals, attacks and reports not counted); a model trains on the "
          "split's members (target_pool/2, max_members, imbalance_ratio), a shadow or target on half the membership "
          "pool, a reference on reference_size; early stopping counted at every epoch (upper bound); DP-SGD at the "
          "non-private rate (lower bound); rates on random inputs after warm-up"
          + (f"; timed at batch size {args.batch_size}, not the profile's" if args.batch_size else ""))
    if not all(math.isfinite(r) and r > 0 for r in rates.values()):
        print("a rate is not a positive number", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
