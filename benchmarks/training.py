"""Training throughput (samples/s) of each model of a profile on this machine.

    uv run python benchmarks/training.py [--profile default] [--steps 30] [--threads N]

Times full training steps (augmentation, forward, backward, optimiser) on random
inputs of the profile's dataset shape, after warm-up steps; prints one row per model.
"""

from __future__ import annotations

import time

import torch
from _spine import parser, setup

from advlab.data.augment import augment
from advlab.models.zoo import build_model
from advlab.training.loop import make_optimizer
from advlab.training.objectives import make_objective


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    p, shape, k, names = setup(args)
    device = "cuda" if torch.cuda.is_available() and p.device != "cpu" else "cpu"
    print(f"profile={args.profile} device={device} threads={args.threads} torch={torch.__version__} input={shape}")
    print(f"{'model':<14}{'arch':<11}{'params':>10}{'batch':>7}{'samples/s':>12}{'s/epoch(25k)':>14}")
    for name in names:
        mp = p.models[name]
        torch.manual_seed(0)
        model = build_model(mp.arch, shape, k, **mp.options).to(device).train()
        opt = make_optimizer(model, mp.train)
        objective = make_objective(mp.train.objective, **mp.train.objective_options)
        b = mp.train.batch_size
        x, y = torch.rand(b, *shape, device=device), torch.randint(0, k, (b,), device=device)

        def step():
            loss = objective(model, augment(x, mp.train.augment), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        for _ in range(args.warmup):
            step()
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        if device == "cuda":
            torch.cuda.synchronize()
        rate = args.steps * b / (time.perf_counter() - t0)
        n_params = sum(q.numel() for q in model.parameters())
        print(f"{name:<14}{mp.arch:<11}{n_params:>10,}{b:>7}{rate:>12.0f}{25000 / rate:>14.1f}")


if __name__ == "__main__":
    main()
