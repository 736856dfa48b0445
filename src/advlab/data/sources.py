"""Dataset sources: each loader returns the whole dataset as uint8 images in memory.

Fashion-MNIST is looked for under ``<root>/`` (IDX files, gzipped or not), then in the
system's dataset folder (Debian's ``dataset-fashion-mnist``), then downloaded with
torchvision. CIFAR is read from torchvision's python-batch format under ``<root>/``,
downloaded with torchvision if missing. scikit-learn's digits ship with the library.
A dataset that cannot be found fails with one message listing every place tried; a
file that is damaged, of the wrong shape, or whose images and labels do not pair up
fails with one line naming it.

No data file runs code: CIFAR's pickled batches are read with :class:`DataUnpickler`,
which builds numpy arrays and plain containers and refuses every other global.
"""

from __future__ import annotations

import gzip
import pickle
import zlib
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


RAW_FIX = "replace it (or delete it to have it looked for elsewhere / downloaded again), then run `dvc repro prepare`"


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise AdvlabError(f"{path}: damaged or truncated gzip file ({err}); {RAW_FIX}") from None
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


def _check_pair(images: np.ndarray, labels: np.ndarray, image_file, label_file, num_classes: int) -> None:
    """Images (N, H, W) and labels (N,) in [0, num_classes) that pair up one to one, or one clear line."""
    if images.ndim != 3:
        raise AdvlabError(f"{image_file}: expected images of shape (N, H, W), got {images.shape}; {RAW_FIX}")
    if labels.ndim != 1:
        raise AdvlabError(f"{label_file}: expected labels of shape (N,), got {labels.shape}; {RAW_FIX}")
    if len(images) != len(labels):
        raise AdvlabError(f"{image_file} holds {len(images)} images but {label_file} holds {len(labels)} labels "
                          f"(mismatched files?); {RAW_FIX}")
    if len(labels) and labels.max() >= num_classes:
        raise AdvlabError(f"{label_file}: label {int(labels.max())} is not a class (expected 0..{num_classes - 1}); "
                          f"{RAW_FIX}")


def _from_idx(files: dict[str, Path]) -> Dataset:
    xtr, ytr = read_idx(files["train_images"]), read_idx(files["train_labels"])
    xte, yte = read_idx(files["test_images"]), read_idx(files["test_labels"])
    k = len(FASHION_MNIST_CLASSES)
    _check_pair(xtr, ytr, files["train_images"], files["train_labels"], k)
    _check_pair(xte, yte, files["test_images"], files["test_labels"], k)
    if xtr.shape[1:] != xte.shape[1:]:
        raise AdvlabError(f"{files['train_images']} holds {xtr.shape[1:]} images but {files['test_images']} "
                          f"{xte.shape[1:]}; {RAW_FIX}")
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


#: the globals a CIFAR batch may name: numpy's array and dtype reconstruction (module paths of
#: numpy 1 and 2; ``_frombuffer`` is what pickle protocol 5 writes, ``scalar`` a numpy scalar)
SAFE_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
})


class DataUnpickler(pickle.Unpickler):
    """Unpickles data only: dicts, lists, tuples, str, bytes, numbers and numpy arrays.

    Any other global (a function to call, a class to build) is refused before it is
    looked up, so a crafted file cannot run code; ``load`` then raises ``UnpicklingError``.
    """

    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: a data file may only hold "
                                         "arrays, lists, dicts, strings and numbers")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent id: a data file may not reference outside objects")


def load_data_pickle(path: Path) -> object:
    """Unpickle a data file (Python 2 pickles read as latin1, like torchvision) with :class:`DataUnpickler`."""
    with open(path, "rb") as fh:
        return DataUnpickler(fh, encoding="latin1").load()


def read_cifar_folder(folder: Path, name: str) -> Dataset:
    """Read CIFAR-10/100 from the python-batch format torchvision downloads.

    Each batch must be a dict whose ``data`` is N×3072 uint8 (N images of 3×32×32) and
    whose label list has N entries; anything else is one line naming the file."""
    _, train_files, test_files, label_key, meta_file, names_key, _ = _CIFAR[name]
    fix = f"delete {folder} to download it again (or replace the file), then run `dvc repro prepare`"

    def read(fname: str, keys: tuple[str, ...]) -> dict:
        path = folder / fname
        try:
            batch = load_data_pickle(path)
        except FileNotFoundError:
            raise AdvlabError(f"{path}: missing file of the {name} dataset; {fix}") from None
        except pickle.UnpicklingError as err:
            raise AdvlabError(f"{path}: not a plain {name} data batch ({err}); {fix}") from None
        except Exception as err:
            raise AdvlabError(f"{path}: unreadable {name} batch ({type(err).__name__}: {err}); {fix}") from None
        if not isinstance(batch, dict) or any(k not in batch for k in keys):
            raise AdvlabError(f"{path}: not a {name} batch (expected a dict with {', '.join(keys)}); {fix}")
        return batch

    def batch(fname: str) -> tuple[np.ndarray, np.ndarray]:
        path, part = folder / fname, read(fname, ("data", label_key))
        try:
            data = np.asarray(part["data"])
            labels = np.asarray(part[label_key])
        except Exception as err:
            raise AdvlabError(f"{path}: unreadable {name} batch ({type(err).__name__}: {err}); {fix}") from None
        if not np.issubdtype(data.dtype, np.integer) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise AdvlabError(f"{path}: 'data' must be N×3072 bytes (N images of 3×32×32), got {data.dtype} "
                              f"{data.shape}; {fix}")
        if data.size and (data.min() < 0 or data.max() > 255):
            raise AdvlabError(f"{path}: 'data' holds values outside 0..255; {fix}")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise AdvlabError(f"{path}: '{label_key}' must be a list of integers, got {labels.dtype} {labels.shape}; "
                              f"{fix}")
        if len(labels) != len(data):
            raise AdvlabError(f"{path} holds {len(data)} images but {len(labels)} labels ('{label_key}'); {fix}")
        return data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32), labels.astype(np.int64)

    train = [batch(f) for f in train_files]
    test = [batch(f) for f in test_files]
    classes = [str(c) for c in read(meta_file, (names_key,))[names_key]]
    for f, (_, y) in zip(train_files + test_files, train + test):
        if len(y) and (y.min() < 0 or y.max() >= len(classes)):
            raise AdvlabError(f"{folder / f}: labels range over [{y.min()}, {y.max()}] but {folder / meta_file} "
                              f"names {len(classes)} classes; {fix}")
    images = np.concatenate([x for x, _ in train + test])
    labels = np.concatenate([y for _, y in train + test])
    n_test = sum(len(y) for _, y in test)
    is_test = np.r_[np.zeros(len(labels) - n_test, bool), np.ones(n_test, bool)]
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
