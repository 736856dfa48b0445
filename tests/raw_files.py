"""Raw dataset files as the real distributions ship them, for the data tests and the fault suite:
Fashion-MNIST's IDX files and CIFAR-10's python batches (Python 2 pickles, as torchvision downloads them)."""

from __future__ import annotations

import gzip
import io
import pickle

import numpy as np


def write_idx(path, array, gz=True):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def make_fmnist(folder, n_train=20, n_test=10, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for stem, a in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), a, gz)
    return arrays


class _Py2Pickler(pickle._Pickler):
    """Writes pickles as Python 2's cPickle did for torchvision's CIFAR batches: protocol 2,
    str and bytes as 8-bit strings (read back with encoding="latin1"), numpy 1's module path."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_string(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + len(data).to_bytes(4, "little") + data)
        self.memoize(obj)

    dispatch[str] = _save_py2_string
    dispatch[bytes] = _save_py2_string


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def write_cifar10_py2(folder, n_per_batch=3, labels_short_by=0, data_shape=None, n_test=None, class_signal=0.0):
    """CIFAR-10 in torchvision's real format (Python 2 pickles of dicts with a uint8 N×3072 array).

    ``n_test``: images in ``test_batch`` (default ``n_per_batch``). ``class_signal`` in [0, 1] blends
    each image with a fixed random 3×32×32 template of its class, so models can learn the labels
    (0: pure noise)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    templates = np.random.default_rng(3).integers(0, 256, (10, 3072)).astype(np.float64)
    for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_per_batch if f != "test_batch" or n_test is None else n_test
        data = rng.integers(0, 256, data_shape or (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n - labels_short_by)
        if class_signal:
            data = np.round((1 - class_signal) * data + class_signal * templates[labels]).astype(np.uint8)
        batch = {"batch_label": f"training batch of {f}", "data": data, "labels": labels.tolist(),
                 "filenames": [f"img_{i}.png" for i in range(n)]}
        (folder / f).write_bytes(py2_pickle(batch))
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
            "num_cases_per_batch": n_per_batch, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
