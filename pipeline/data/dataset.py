"""What every source returns: a :class:`Dataset` of uint8 images and int labels, the facts known before
its pixels (:class:`DatasetInfo`), how a source is read (:class:`SourceOptions`), and the helpers sources
share (conversion, verification, the .npz cache)."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..config.sizes import parse_size
from ..errors import DataError, shown, shown_list
from ..runtime.locks import file_lock
from .heif import EXTRA, is_heif, readable

DIGITS = tuple(str(i) for i in range(10))


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

    def skipped_warning(self) -> str | None:
        """One line naming the files of the source that were skipped (not images, or not decodable)."""
        skipped = self.facts.get("skipped_files", [])
        if not skipped:
            return None
        heic = [p for p in skipped if is_heif(p) and not readable(p)]
        return (f"warning: skipped {len(skipped)} file(s) that are not readable images: {shown_list(skipped)}"
                + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
                + (f" ({len(heic)} HEIC photo(s): {EXTRA} reads them)" if heic else ""))


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
    storage: str = "memory"        # memory (decoded arrays) | stream (read from an on-disk cache each epoch)
    storage_reason: str = ""       # why: the decoded size against data.memory_budget (image folders)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True)
class SourceOptions:
    """How a source is read: the ``data.*`` keys that shape what a loader returns."""

    image_size: tuple[int, int] | None = None  # resize to (H, W); None keeps the source's size
    channels: int | None = None                # 1 or 3; None keeps the source's
    test_size: float = 0.2                     # image folders without test/: the held-out fraction
    on_bad_file: str = "skip"                  # image folders: skip | error
    cifar_labels: str = "fine"                 # CIFAR-100: fine | coarse
    resize: str = "squash"                     # how image_size fits another aspect: squash | pad | center_crop
    memory_budget: int | None = None           # image folders: decoded bytes held in memory, else streamed;
                                               # None: a quarter of the memory limit

    @classmethod
    def of(cls, data) -> "SourceOptions":
        """From a DataConfig as it is (:func:`.sizing.source_options` first chooses a size for a folder of mixed
        sizes); ``data.resize`` unset is squash."""
        budget = None if data.memory_budget is None else parse_size(data.memory_budget)
        return cls(tuple(data.image_size) if data.image_size else None, data.channels, data.test_size,
                   data.on_bad_file, data.cifar_labels, data.resize or "squash", budget)


def adapt(ds: Dataset, options: SourceOptions) -> Dataset:
    """Resize to ``options.image_size`` and convert to ``options.channels`` (already so: unchanged)."""
    height, width, channels = ds.image_shape
    size = tuple(options.image_size) if options.image_size else (height, width)
    target = options.channels or channels
    if size == (height, width) and target == channels:
        return ds
    ds.x_train, ds.x_test = (convert_images(x, size, target, options.resize) for x in (ds.x_train, ds.x_test))
    return ds


def convert_images(x: np.ndarray, size: tuple[int, int], channels: int, resize: str = "squash",
                   batch: int = 2048) -> np.ndarray:
    """uint8 (N, H, W, C) fitted to ``size`` by ``resize`` (antialiased) and converted to ``channels``
    (gray <-> RGB)."""
    import tensorflow as tf  # TensorFlow only once pixels are converted

    from .resize import fit_image, to_pixels  # (TensorFlow ops)
    out = np.empty((len(x), *size, channels), np.uint8)
    for start in range(0, len(x), batch):
        images = tf.cast(x[start:start + batch], tf.float32)
        if images.shape[-1] != channels:
            images = tf.image.grayscale_to_rgb(images) if channels == 3 else tf.image.rgb_to_grayscale(images)
        if tuple(images.shape[1:3]) != tuple(size):
            images = fit_image(images, size, resize)
        out[start:start + batch] = to_pixels(images).numpy()
    return out


def default_cache_dir() -> str:
    return os.environ.get("TRAINLAB_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "trainlab"))


def cache_path(cache_dir: str | os.PathLike | None) -> Path:
    """The cache folder to use: ``cache_dir`` (``~`` expanded) or :func:`default_cache_dir`."""
    return Path(os.path.expanduser(cache_dir or default_cache_dir()))


def take(images, positions):
    """``images[positions]``, except that images streamed from disk stay there (a view of those images)."""
    subset = getattr(images, "subset", None)
    return subset(positions) if subset is not None else images[positions]


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


def from_arrays(name, x_train, y_train, x_test, y_test, source, class_names=None) -> Dataset:
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
    when it is present and sound, else built and written. A cache folder that cannot be written only costs
    time later: one warning on stderr, and the arrays are built in memory. Every value comes back as a numpy
    array, from the cache or not."""
    found = _read_cache(cache)
    if found is not None:
        return found
    with contextlib.ExitStack() as stack:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(file_lock(f"{cache}.lock"))  # processes starting together: one builds, then read
            writable = True
        except OSError as e:
            _unwritable(cache.parent, e)
            writable = False
        found = _read_cache(cache) if writable else None
        if found is not None:
            return found
        arrays = {k: np.asarray(v, dtype=str) if isinstance(v, (str, list, tuple)) else v for k, v in build().items()}
        if writable:
            try:
                save_npz_atomically(cache, **arrays)
            except OSError as e:
                _unwritable(cache.parent, e)
    return arrays


_WARNED: set = set()


def _unwritable(folder: Path, error: OSError) -> None:
    """Said once per folder and process: the cache cannot be written there."""
    if str(folder) not in _WARNED:
        _WARNED.add(str(folder))
        print(f"warning: the cache folder {shown(folder)} cannot be written ({error.strerror or error}): the data "
              "is decoded in memory and will be again next time (data.cache_dir or TRAINLAB_CACHE to choose another)",
              file=sys.stderr)


def _read_cache(cache: Path) -> dict[str, np.ndarray] | None:
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            with contextlib.suppress(OSError):
                cache.unlink(missing_ok=True)  # a damaged cache is built again from the source
    return None


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
