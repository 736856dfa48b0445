"""What the model benchmarks share: the profile's spine models and the dataset's input shape.

The benchmarks time random inputs of the dataset's shape, so they need no prepared data."""

from __future__ import annotations

import argparse

import torch

from advlab import profiles
from advlab.params import Params, validate

SHAPES = {"fashion_mnist": (1, 28, 28), "digits": (1, 8, 8), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32)}
CLASSES = {"fashion_mnist": 10, "digits": 10, "cifar10": 10, "cifar100": 100}


def parser(doc: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--models", nargs="*", help="model names (default: the spine's target models)")
    return ap


def setup(args) -> tuple[Params, tuple[int, ...], int, list[str]]:
    """Set the thread count; return (params, input shape, classes, model names)."""
    torch.set_num_threads(args.threads)
    p = validate(profiles.resolve(args.profile))
    names = args.models or [n for n in p.models if p.models[n].train.objective == "standard"][:3]
    return p, SHAPES[p.data.dataset], CLASSES[p.data.dataset], names
