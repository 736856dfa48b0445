import gzip
import pickle

import numpy as np
import pytest

from advlab.data import sources
from advlab.data.sources import load_dataset, read_idx
from advlab.errors import AdvlabError
from tests.raw_files import make_fmnist, py2_pickle, write_cifar10_py2, write_idx


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


# --- hardening: no code from data files, nothing accepted silently, one line per damaged file ---------------

def test_cifar_python2_batches_load_through_the_restricted_unpickler(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10_py2(folder)
    raw = (folder / "data_batch_1").read_bytes()
    assert b"cnumpy.core.multiarray\n_reconstruct" in raw and b"_codecs" not in raw  # the real files' shape
    ds = load_dataset("cifar10", tmp_path, download=False)
    assert ds.images.shape == (18, 3, 32, 32) and ds.images.dtype == np.uint8 and ds.is_test.sum() == 3
    assert ds.classes[0] == "airplane" and ds.labels.dtype == np.int64
    first = sources.load_data_pickle(folder / "data_batch_1")
    np.testing.assert_array_equal(ds.images[:3].reshape(3, -1), first["data"])
    assert first["batch_label"] == "training batch of data_batch_1"


class _Payload:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


def test_crafted_cifar_batch_runs_no_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10_py2(folder)
    marker = tmp_path / "pwned"
    payload = {"data": np.zeros((3, 3072), np.uint8), "labels": [0, 1, 2], "x": _Payload(f"touch {marker}")}
    (folder / "data_batch_3").write_bytes(pickle.dumps(payload, protocol=4))
    assert b"system" in (folder / "data_batch_3").read_bytes()  # plain pickle.load would call os.system
    with pytest.raises(AdvlabError) as err:
        load_dataset("cifar10", tmp_path, download=False)
    assert not marker.exists()
    msg = str(err.value)
    assert "\n" not in msg and "data_batch_3" in msg and "refused to load posix.system" in msg
    assert "dvc repro prepare" in msg


@pytest.mark.parametrize("module,name", [("posix", "system"), ("builtins", "eval"), ("numpy", "load"),
                                         ("numpy.core.multiarray", "frompyfunc")])
def test_restricted_unpickler_refuses_every_other_global(tmp_path, module, name):
    path = tmp_path / "batch"
    path.write_bytes(b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X\x04\x00\x00\x00trueq\x00\x85R.")
    with pytest.raises(pickle.UnpicklingError, match=f"refused to load {module}.{name}"):
        sources.load_data_pickle(path)


def test_fashion_mnist_labels_of_the_wrong_split_are_refused(tmp_path, monkeypatch):
    """Train labels replaced by the test labels: 20 + 10 images against 10 + 10 labels."""
    monkeypatch.setattr(sources, "SYSTEM_FASHION_MNIST", tmp_path / "nowhere")
    folder = tmp_path / "fashion-mnist"
    make_fmnist(folder)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(AdvlabError) as err:
        load_dataset("fashion_mnist", tmp_path, download=False)
    msg = str(err.value)
    assert "\n" not in msg and "train-images-idx3-ubyte.gz holds 20 images" in msg
    assert "train-labels-idx1-ubyte.gz holds 10 labels" in msg and "dvc repro prepare" in msg


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_gzip_idx_is_one_line(tmp_path, damage):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, np.zeros((50, 28, 28)))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if damage == "truncated" else b"\x1f\x8b" + b"\x00" * 40)
    with pytest.raises(AdvlabError) as err:
        read_idx(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "dvc repro prepare" in msg


def test_cifar_with_fewer_labels_than_images_is_refused(tmp_path):
    write_cifar10_py2(tmp_path / "cifar-10-batches-py", labels_short_by=1)
    with pytest.raises(AdvlabError) as err:
        load_dataset("cifar10", tmp_path, download=False)
    msg = str(err.value)
    assert "\n" not in msg and "data_batch_1 holds 3 images but 2 labels" in msg and "dvc repro prepare" in msg


@pytest.mark.parametrize("shape", [(3, 3000), (3, 32, 32, 3)])
def test_cifar_batches_of_the_wrong_shape_are_one_line(tmp_path, shape):
    write_cifar10_py2(tmp_path / "cifar-10-batches-py", data_shape=shape)
    with pytest.raises(AdvlabError) as err:
        load_dataset("cifar10", tmp_path, download=False)
    msg = str(err.value)
    assert "\n" not in msg and "data_batch_1: 'data' must be N×3072" in msg and str(shape) in msg


def test_cifar_batch_that_is_not_a_dict_or_lacks_labels(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10_py2(folder)
    (folder / "test_batch").write_bytes(py2_pickle([1, 2, 3]))
    with pytest.raises(AdvlabError, match=r"test_batch: not a cifar10 batch \(expected a dict with data, labels\)"):
        load_dataset("cifar10", tmp_path, download=False)
    (folder / "test_batch").write_bytes(py2_pickle({"data": np.zeros((3, 3072), np.uint8)}))
    with pytest.raises(AdvlabError, match="test_batch: not a cifar10 batch"):
        load_dataset("cifar10", tmp_path, download=False)
