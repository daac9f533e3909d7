"""A user's own data, by path: image folders, CIFAR-10/100 archives, keras ``.npz`` files and IDX
folders; their facts (from file headers where the format has them) and their loading."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DataError, shown_list
from . import cifar, folders
from .dataset import Dataset, DatasetInfo, SourceOptions, cache_path, cached_arrays, from_arrays, numbered_classes
from .readers import idx_shape, npz_shapes, read_idx, read_keras_npz, read_npz_arrays
from .store import open_store


def describe_path(path: Path, options: SourceOptions, cache_dir=None) -> DatasetInfo:
    """The facts of the dataset at ``path`` (before ``options``' resizing and conversion)."""
    if (path.is_dir() and not _is_idx_dir(path)) or (path.is_file() and path.suffix != ".npz"):
        ds = load_path(path, cache_path(cache_dir), options)  # image folders and CIFAR archives: photos
        return DatasetInfo(ds.name, ds.source, ds.image_shape, ds.class_names, len(ds.y_train), len(ds.y_test),
                           kind="natural", storage=ds.facts.get("storage", "memory"),
                           storage_reason=ds.facts.get("storage_reason", ""))
    if path.is_dir():
        shapes = {f"x_{split}": idx_shape(_find_idx(path, prefix, "images"))
                  for split, prefix in (("train", "train"), ("test", "t10k"))}
        labels = [read_idx(_find_idx(path, prefix, "labels")) for prefix in ("train", "t10k")]
    else:
        shapes = npz_shapes(path)
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(shapes)
        if missing:
            raise DataError(f"{path} lacks array(s) {', '.join(sorted(missing))} of the keras mnist.npz layout")
        labels = read_npz_arrays(path, ("y_train", "y_test"))  # labels only: small
    x_train, x_test = shapes["x_train"], shapes["x_test"]
    if len(x_train) == 3:
        x_train, x_test = (*x_train, 1), (*x_test, 1)
    if len(x_train) != 4 or x_train[-1] not in (1, 3) or x_train[1:] != x_test[1:]:
        raise DataError(f"{path}: images must have shape (N, H, W) or (N, H, W, C) with C 1 or 3, the same in "
                        f"both splits; got {shapes['x_train']} and {shapes['x_test']}")
    info = DatasetInfo(path.stem if path.suffix == ".npz" else path.name, str(path), tuple(x_train[1:]),
                       numbered_classes(*(np.asarray(y).reshape(-1) for y in labels)), x_train[0], x_test[0])
    return info


def is_image_folder(path: Path) -> bool:
    """Whether ``path`` is read as a folder of class subfolders of images (not an IDX or CIFAR folder)."""
    return path.is_dir() and not _is_idx_dir(path) and not cifar.is_cifar(path)


def _is_idx_dir(path: Path) -> bool:
    return any("idx" in p.name and "ubyte" in p.name for p in path.iterdir())


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
    return from_arrays(name or root.name, **arrays, source=root)


def load_path(path: Path, cache_dir: Path, options: SourceOptions = SourceOptions()) -> Dataset:
    """A user's own dataset: an image folder, a CIFAR archive or folder, a keras ``.npz`` or an IDX folder."""
    if path.is_dir() and _is_idx_dir(path):
        return load_idx_dir(path)
    if path.suffix == ".npz" and path.is_file():
        return from_arrays(path.stem, **read_keras_npz(path), source=path)
    if cifar.is_cifar(path):
        arrays = _cached(cache_dir, f"cifar-{path.name}-{options.cifar_labels}", path,
                         lambda: cifar.read_cifar(path, options.cifar_labels))
        return from_arrays(str(arrays.pop("name")), **arrays, source=path)
    if path.is_dir():  # class subfolders of images: list_folder says what is missing if they are not there
        return load_folder(path, cache_dir, options)
    raise DataError(f"{path} is not a dataset trainlab reads: an image folder (class subfolders of PNG/JPEG/BMP/GIF), "
                    "a CIFAR-10/100 python archive or folder, a keras .npz file or an IDX folder")


def load_folder(path: Path, cache_dir: Path, options: SourceOptions) -> Dataset:
    """An image folder: decoded into memory when it fits ``options.memory_budget`` at the size it is
    trained at, else streamed from an on-disk store of its encoded images (:mod:`.store`)."""
    root = path.resolve()  # the caches name files by absolute path: resolved once, not per file
    listing = folders.list_folder(root)
    if listing.not_images and options.on_bad_file == "error":
        raise DataError(f"{len(listing.not_images)} file(s) in {root} are not images: "
                        f"{shown_list(listing.not_images)} (data.on_bad_file: skip ignores them)")
    stream, reason = folders.placement(listing, options.image_size, options.channels, options.memory_budget)
    if stream:
        ds = _streamed_folder(root, listing, cache_dir, options)
    else:
        arrays = folders.load_image_folder(root, cache_dir, options.image_size, options.channels,
                                           options.test_size, options.on_bad_file, options.resize, listing)
        ds = from_arrays(path.name, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], path,
                         arrays["class_names"])
        ds.facts["skipped_files"] = list(arrays["skipped"])
        if "train_files" in arrays:  # a cache written before files were kept has none
            ds.facts["train_files"] = [str(f) for f in arrays["train_files"]]
    ds.facts.update(storage="stream" if stream else "memory", storage_reason=reason)
    return ds


def _streamed_folder(root: Path, listing, cache_dir: Path, options: SourceOptions) -> Dataset:
    from .streamed import StreamedImages  # TensorFlow: imported only when a folder streams
    store = open_store(root, listing, cache_dir, options.test_size, options.on_bad_file)
    size = options.image_size or store.native_size()
    if size is None:
        raise DataError(f"the images in {root} differ in size; set data.image_size: [H, W] (they are streamed "
                        "from disk, in batches of one size)")
    index = store.index
    view = lambda keys: StreamedImages(store, keys, size, options.channels or store.channels,  # noqa: E731
                                       options.resize)
    ds = Dataset(root.name, view(index["train"]), store.labels[index["train"]], view(index["test"]),
                 store.labels[index["test"]], class_names=store.class_names, source=str(root))
    ds.facts["skipped_files"] = [str(p) for p in listing.not_images] + store.undecodable
    return ds


def _cached(cache_dir: Path, stem: str, source: Path, build: Callable[[], dict]) -> dict:
    """``build()``'s arrays, cached as ``<stem>-<digest>.npz``: the digest of the source's path and of the size
    and mtime of the source file, or of every file under the source folder (a batch file rewritten in place
    changes the folder's own stat not at all)."""
    digest = hashlib.sha256(os.fsencode(source.resolve()))
    files = sorted(os.path.join(d, f) for d, _, names in os.walk(source) for f in names) if source.is_dir() \
        else [str(source)]
    for file in files:
        stat = os.stat(file)
        digest.update(os.fsencode(file) + f"\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    arrays = cached_arrays(cache_dir / f"{stem}-{digest.hexdigest()[:16]}.npz", build)
    return {**arrays, "class_names": tuple(str(c) for c in arrays["class_names"]), "name": str(arrays["name"])}
