"""Models per hour: stacked (vmap) vs sequential training of small CNN shadow models.

Random 1×28×28 data, a small GroupNorm CNN, the same batches for both ways.
Run: ``OMP_NUM_THREADS=1 uv run python benchmarks/shadow_training.py [--models 8 --steps 200]``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from torch import nn

from advlab.training.stacked import batch_plan, init_models, train_sequential, train_stacked


def small_cnn(n_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.GroupNorm(4, 32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, n_classes),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=int, default=8)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--pool", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.pool, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (args.pool,), generator=g)
    keep = np.random.default_rng(0).random((args.models, args.pool)) < 0.5
    plan = batch_plan(keep, args.steps, args.batch_size, seed=0)
    models = init_models(small_cnn, args.models, seed=0)
    kw = dict(steps=args.steps, batch_size=args.batch_size, lr=0.05, plan=plan)
    # warm up both paths first (allocator, kernel selection) so neither pays it in the timing
    warm = dict(steps=3, batch_size=args.batch_size, lr=0.05, plan=plan[:, :3])
    train_sequential(models, x, y, keep, **warm)
    train_stacked(models, x, y, keep, **warm)
    seq = train_sequential(models, x, y, keep, **kw)
    stk = train_stacked(models, x, y, keep, **kw)
    mph_seq = args.models / seq.seconds * 3600
    mph_stk = args.models / stk.seconds * 3600
    print(f"device=cpu threads={torch.get_num_threads()} torch={torch.__version__} models={args.models} "
          f"steps={args.steps} batch={args.batch_size} params/model={sum(p.numel() for p in models[0].parameters())}")
    print(f"sequential: {seq.seconds:8.2f} s  {mph_seq:10.1f} models/hour")
    print(f"stacked   : {stk.seconds:8.2f} s  {mph_stk:10.1f} models/hour")
    print(f"ratio stacked/sequential (models/hour): {mph_stk / mph_seq:.2f}x")
    print(f"final-step loss, mean over models: sequential {seq.losses[-1].mean():.4f}  stacked {stk.losses[-1].mean():.4f}  "
          f"max |diff| {np.abs(seq.losses[-1] - stk.losses[-1]).max():.2e}")


if __name__ == "__main__":
    main()
