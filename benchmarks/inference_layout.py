"""Memory layout of attacked models: NCHW vs channels-last, samples/s on this machine.

    uv run python benchmarks/inference_layout.py [--profile default] [--batch 200] [--threads N]

For each spine model of the profile (random weights, eval mode, random inputs of the
dataset's shape): samples/s of a forward pass (what a score-based attack such as Square
costs per query) and of a forward + input-gradient pass (one PGD step), in the default
NCHW layout and in the channels-last layout that ``advlab.models.zoo.build_model`` gives
every model, and the largest difference of their logits. A third column pair times one
training step (train mode, parameter gradients) in both layouts.
"""

from __future__ import annotations

import copy
import time

import torch
from _spine import parser, setup

from advlab.models.zoo import build_model


def rate(fn, n: int, seconds: float = 1.5) -> float:
    for _ in range(3):
        fn()
    t0, calls = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        fn()
        calls += 1
    return calls * n / (time.perf_counter() - t0)


def throughput(model, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float]:
    model.eval()
    with torch.no_grad():
        fwd = rate(lambda: model(x), len(x))
    xg = x.clone().requires_grad_()

    def grad_step():
        xg.grad = None
        torch.nn.functional.cross_entropy(model(xg), y).backward()

    pgd = rate(grad_step, len(x))
    model.train()

    def train_step():
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()

    train = rate(train_step, len(x))
    model.eval()
    return fwd, pgd, train


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--batch", type=int, default=200)
    args = ap.parse_args()
    p, shape, k, names = setup(args)
    print(f"profile={args.profile} threads={args.threads} torch={torch.__version__} batch={args.batch} input={shape}")
    print(f"{'model':<10}{'forward/s NCHW':>16}{'CL':>8}{'x':>6}{'PGD step/s NCHW':>17}{'CL':>8}{'x':>6}"
          f"{'train/s NCHW':>14}{'CL':>8}{'x':>6}{'max |Δlogit|':>14}")
    for name in names:
        mp = p.models[name]
        torch.manual_seed(0)
        cl = build_model(mp.arch, shape, k, **mp.options).eval()
        nchw = copy.deepcopy(cl).to(memory_format=torch.contiguous_format)
        x, y = torch.rand(args.batch, *shape), torch.randint(0, k, (args.batch,))
        with torch.no_grad():
            diff = (nchw(x) - cl(x)).abs().max().item()
        a, b = throughput(nchw, x, y), throughput(cl, x, y)
        cols = "".join(f"{u:>{w}.0f}{v:>8.0f}{v / u:>6.2f}" for u, v, w in zip(a, b, (16, 17, 14)))
        print(f"{name:<10}{cols}{diff:>14.1e}")


if __name__ == "__main__":
    main()
