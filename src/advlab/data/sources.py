"""Dataset sources: each loader returns the whole dataset as uint8 images in memory.

Fashion-MNIST is looked for under ``<root>/`` (IDX files, gzipped or not), then in the
system's dataset folder (Debian's ``dataset-fashion-mnist``), then downloaded with
torchvision. CIFAR is read from torchvision's python-batch format under ``<root>/``,
downloaded with torchvision if missing. scikit-learn's digits ship with the library.
A dataset that cannot be found fails with one message listing every place tried.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advlab.errors import AdvlabError
from advlab.registry import Registry

SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


@dataclass(frozen=True)
class Dataset:
    """All images (N, C, H, W) uint8, labels (N,), and which rows are the official test set."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray
    classes: list[str]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise AdvlabError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise AdvlabError(f"{path}: truncated IDX file ({body.size} bytes of data, expected {int(np.prod(shape))})")
    return body.reshape(shape)


def _find_idx_set(folder: Path) -> dict[str, Path] | None:
    found = {}
    for key, stem in FASHION_MNIST_FILES.items():
        candidates = [folder / stem, folder / f"{stem}.gz"]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            return None
        found[key] = hit
    return found


def _from_idx(files: dict[str, Path]) -> Dataset:
    xtr, ytr = read_idx(files["train_images"]), read_idx(files["train_labels"])
    xte, yte = read_idx(files["test_images"]), read_idx(files["test_labels"])
    images = np.concatenate([xtr, xte])[:, None]
    labels = np.concatenate([ytr, yte]).astype(np.int64)
    is_test = np.r_[np.zeros(len(ytr), bool), np.ones(len(yte), bool)]
    return Dataset("fashion_mnist", images, labels, is_test, FASHION_MNIST_CLASSES)


def load_fashion_mnist(root: Path, download: bool = True) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017): 60k train + 10k test, 28×28 grey, 10 classes."""
    places = [root / "fashion-mnist", root / "FashionMNIST" / "raw", SYSTEM_FASHION_MNIST]
    for folder in places:
        files = _find_idx_set(folder)
        if files:
            return _from_idx(files)
    tried = [str(p) for p in places]
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(root), train=True, download=True)
            FashionMNIST(str(root), train=False, download=True)
            files = _find_idx_set(root / "FashionMNIST" / "raw")
            if files:
                return _from_idx(files)
        except Exception as err:  # network errors come in many types
            tried.append(f"torchvision download into {root} ({type(err).__name__}: {err})")
    raise AdvlabError(
        "Fashion-MNIST not found. Tried:\n  - "
        + "\n  - ".join(tried)
        + "\nProvide it with: apt-get install -y dataset-fashion-mnist"
        " (Debian; after apt-get update), or put the four IDX files in "
        f"{root / 'fashion-mnist'}, or allow torchvision to download it."
    )


def load_digits_dataset(root: Path, download: bool = True) -> Dataset:
    """scikit-learn's bundled 8×8 digits (1797 images, 10 classes), scaled to uint8."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(np.round(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[:, None]
    labels = d.target.astype(np.int64)
    return Dataset("digits", images, labels, np.zeros(len(labels), bool), [str(i) for i in range(10)])


_CIFAR = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                "labels", "batches.meta", "label_names", "CIFAR10"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", "meta", "fine_label_names", "CIFAR100"),
}


def read_cifar_folder(folder: Path, name: str) -> Dataset:
    """Read CIFAR-10/100 from the python-batch format torchvision downloads."""
    _, train_files, test_files, label_key, meta_file, names_key, _ = _CIFAR[name]

    def read(fname: str) -> dict:
        path = folder / fname
        try:
            with open(path, "rb") as fh:
                # The CIFAR distribution format is a pickled dict of numpy arrays; it
                # holds data, not code we run, and comes from the dataset's authors.
                return pickle.load(fh, encoding="latin1")
        except FileNotFoundError:
            raise AdvlabError(f"{path}: missing file of the {name} dataset") from None
        except Exception as err:
            raise AdvlabError(f"{path}: unreadable {name} batch ({err}); delete {folder} and download again") from None

    parts = [read(f) for f in train_files + test_files]
    images = np.concatenate([np.asarray(p["data"], np.uint8).reshape(-1, 3, 32, 32) for p in parts])
    labels = np.concatenate([np.asarray(p[label_key], np.int64) for p in parts])
    n_test = sum(len(read(f)[label_key]) for f in test_files)
    is_test = np.r_[np.zeros(len(labels) - n_test, bool), np.ones(n_test, bool)]
    classes = list(read(meta_file)[names_key])
    return Dataset(name, images, labels, is_test, classes)


def _cifar_loader(name: str):
    folder_name, *_, tv_class = _CIFAR[name]

    def load(root: Path, download: bool = True) -> Dataset:
        folder = root / folder_name
        tried = [str(folder)]
        if not folder.is_dir() and download:
            try:
                import torchvision.datasets as tvd

                getattr(tvd, tv_class)(str(root), train=True, download=True)
            except Exception as err:
                tried.append(f"torchvision download into {root} ({type(err).__name__}: {err})")
        if folder.is_dir():
            return read_cifar_folder(folder, name)
        raise AdvlabError(
            f"{name} not found. Tried:\n  - " + "\n  - ".join(tried)
            + f"\nProvide it by running once with network access (torchvision downloads it into {root}),"
            f" or copy the extracted '{folder_name}' folder there."
        )

    load.__doc__ = f"{tv_class} (Krizhevsky 2009), 32×32 colour, via torchvision's format."
    return load


DATASETS = Registry("dataset")
DATASETS.register("fashion_mnist", load_fashion_mnist, num_classes=10, input_shape=(1, 28, 28))
DATASETS.register("digits", load_digits_dataset, num_classes=10, input_shape=(1, 8, 8))
DATASETS.register("cifar10", _cifar_loader("cifar10"), num_classes=10, input_shape=(3, 32, 32))
DATASETS.register("cifar100", _cifar_loader("cifar100"), num_classes=100, input_shape=(3, 32, 32))


def load_dataset(name: str, root: str | Path = "data/raw", download: bool = True) -> Dataset:
    """Load a dataset by its registry name."""
    return DATASETS.get(name)(Path(root), download=download)
