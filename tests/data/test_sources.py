import gzip
import pickle

import numpy as np
import pytest

from advlab.data import sources
from advlab.data.sources import load_dataset, read_idx
from advlab.errors import AdvlabError


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


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_data_raw(tmp_path, gz, monkeypatch):
    monkeypatch.setattr(sources, "SYSTEM_FASHION_MNIST", tmp_path / "nowhere")
    arrays = make_fmnist(tmp_path / "fashion-mnist", gz=gz)
    ds = load_dataset("fashion_mnist", tmp_path, download=False)
    assert ds.images.shape == (30, 1, 28, 28) and ds.is_test.sum() == 10
    np.testing.assert_array_equal(ds.images[:20, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.labels[20:], arrays["t10k-labels-idx1-ubyte"])
    assert ds.num_classes == 10


def test_fashion_mnist_system_folder_is_second(tmp_path, monkeypatch):
    make_fmnist(tmp_path / "system", n_train=4, n_test=2)
    monkeypatch.setattr(sources, "SYSTEM_FASHION_MNIST", tmp_path / "system")
    assert len(load_dataset("fashion_mnist", tmp_path / "raw", download=False).labels) == 6


def test_missing_dataset_lists_every_place_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "SYSTEM_FASHION_MNIST", tmp_path / "system")
    import torchvision.datasets as tvd

    class Offline:
        def __init__(self, *a, **k):
            raise OSError("network unreachable")

    monkeypatch.setattr(tvd, "FashionMNIST", Offline)
    with pytest.raises(AdvlabError) as err:
        load_dataset("fashion_mnist", tmp_path / "raw")
    msg = str(err.value)
    for place in ["raw/fashion-mnist", "FashionMNIST/raw", "system", "torchvision download", "network unreachable",
                  "apt-get install -y dataset-fashion-mnist"]:
        assert place in msg


def test_torchvision_download_path_is_used(tmp_path, monkeypatch):
    """The real download call; the fake writes the files torchvision would."""
    monkeypatch.setattr(sources, "SYSTEM_FASHION_MNIST", tmp_path / "system")
    import torchvision.datasets as tvd

    calls = []

    class FakeDownload:
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            make_fmnist(tmp_path / "raw" / "FashionMNIST" / "raw", n_train=6, n_test=3)

    monkeypatch.setattr(tvd, "FashionMNIST", FakeDownload)
    ds = load_dataset("fashion_mnist", tmp_path / "raw")
    assert len(ds.labels) == 9 and calls and all(c[2] for c in calls)


def test_truncated_idx_is_a_clear_error(tmp_path):
    path = tmp_path / "x.gz"
    write_idx(path, np.zeros((5, 28, 28)))
    raw = gzip.open(path).read()
    gzip.open(path, "wb").write(raw[:-100])
    with pytest.raises(AdvlabError, match="truncated"):
        read_idx(path)


def write_cifar(folder, name, n_per_batch=4):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    if name == "cifar10":
        files, key, meta, names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], "labels", "batches.meta", "label_names"
        k = 10
    else:
        files, key, meta, names = ["train", "test"], "fine_labels", "meta", "fine_label_names"
        k = 100
    for f in files:
        batch = {"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                 key: rng.integers(0, k, n_per_batch).tolist()}
        pickle.dump(batch, open(folder / f, "wb"))
    pickle.dump({names: [f"class{i}" for i in range(k)]}, open(folder / meta, "wb"))
    return len(files) * n_per_batch


@pytest.mark.parametrize("name,folder", [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")])
def test_cifar_from_torchvision_format(tmp_path, name, folder):
    n = write_cifar(tmp_path / folder, name)
    ds = load_dataset(name, tmp_path, download=False)
    assert ds.images.shape == (n, 3, 32, 32) and ds.images.dtype == np.uint8
    assert ds.is_test.sum() == 4 and ds.num_classes == (10 if name == "cifar10" else 100)


def test_cifar_download_then_read(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    class FakeCIFAR10:
        def __init__(self, root, train, download):
            assert download
            write_cifar(tmp_path / "cifar-10-batches-py", "cifar10")

    monkeypatch.setattr(tvd, "CIFAR10", FakeCIFAR10)
    assert load_dataset("cifar10", tmp_path).images.shape[1:] == (3, 32, 32)


def test_cifar_missing_and_damaged(tmp_path):
    with pytest.raises(AdvlabError, match="cifar10 not found"):
        load_dataset("cifar10", tmp_path, download=False)
    write_cifar(tmp_path / "cifar-10-batches-py", "cifar10")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(AdvlabError, match="data_batch_3"):
        load_dataset("cifar10", tmp_path, download=False)


def test_digits_and_unknown(digits):
    assert digits.images.shape == (1797, 1, 8, 8) and digits.images.max() == 255
    with pytest.raises(AdvlabError, match="dataset 'mnist' is unknown; known: cifar10, cifar100, digits, fashion_mnist"):
        load_dataset("mnist")
