"""Make sure the active profile's dataset is on this machine (``advlab ensure-data``).

For Fashion-MNIST on a Debian machine where we are root, this installs Debian's
``dataset-fashion-mnist`` package (offline-friendly: it comes from the Debian
mirror, not a dataset host). Otherwise the ``prepare`` stage's own search order
applies (``data/raw``, system folder, torchvision download).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from advlab.data.sources import SYSTEM_FASHION_MNIST, load_dataset
from advlab.errors import AdvlabError

DEBIAN_PACKAGE = "dataset-fashion-mnist"


def _apt_install() -> bool:
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    print(f"installing Debian package {DEBIAN_PACKAGE} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    done = subprocess.run(["apt-get", "install", "-y", "-qq", DEBIAN_PACKAGE], check=False, env=env)
    return done.returncode == 0


def ensure(dataset: str, root: str) -> str:
    try:
        ds = load_dataset(dataset, root, download=False)
        return f"{dataset}: found ({len(ds.labels)} images)"
    except AdvlabError:
        if dataset == "fashion_mnist" and _apt_install() and SYSTEM_FASHION_MNIST.is_dir():
            return f"{dataset}: installed into {SYSTEM_FASHION_MNIST}"
        # Last resort: the loader's own download, which names every place it tried.
        ds = load_dataset(dataset, root, download=True)
        return f"{dataset}: downloaded ({len(ds.labels)} images)"
