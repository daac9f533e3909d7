"""A folder of class-named subfolders of images, as ``keras.utils.image_dataset_from_directory`` reads it.

``root/<class>/*.png`` (split into train and test here, stratified and seeded), or
``root/train/<class>/...`` with ``root/test/<class>/...``. Class names are the sorted folder names.
Files are decoded in parallel in tf.data, once: the uint8 arrays are cached on disk under a digest of
the file list, sizes and modification times (and the requested size and channels), so a second load
is one file read. Files that are not images, or do not decode, are skipped and returned by name (the
training stage warns about them and logs their count; ``on_bad_file="error"`` refuses them instead).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .. import progress
from ..config.sizes import format_size
from ..errors import DataError, shown, shown_list
from ..runtime.memory import memory_limit
from ..runtime.process import DECODER_NOISE, native_stderr_held
from . import heif
from .dataset import cached_arrays, convert_images
from .splits import stratified_split

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")  # what TensorFlow decodes
# What the decoded arrays look like: a cache written under another format is rebuilt, not misread.
# 2: JPEGs turned upright by their EXIF orientation. 3: one decoder (decode.py): fitted, then gray <-> RGB.
CACHE_FORMAT = 3
TEST_SPLIT_SEED = 0  # the held-out test set does not move with train.seed


@dataclass
class Listing:
    """The files of an image folder: (path, class index) per split, and what was not an image."""

    class_names: tuple[str, ...]
    train: list[tuple[str, int]]
    test: list[tuple[str, int]] | None    # None: no test/ folder, the test split is carved out here
    not_images: list[str]
    stamps: dict                          # path -> (size, mtime_ns), read while listing


def _walk(folder: str, stamps: dict) -> list[str]:
    """Every non-hidden file under ``folder``, in name order, its size and mtime recorded in ``stamps``.

    os.scandir and plain strings: one stat per file and no Path object per file (10,000 files are
    listed in about 0.1 s, the bulk of a cached load)."""
    found = []
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                found += _walk(entry.path, stamps)
            elif entry.is_file():
                stat = entry.stat()
                stamps[entry.path] = (stat.st_size, stat.st_mtime_ns)
                found.append(entry.path)
    return found


def list_folder(root: Path) -> Listing:
    """The classes and files of ``root``; a folder with no images, or fewer than two classes, is a DataError."""
    split = (root / "train").is_dir() and (root / "test").is_dir()
    train_root = root / "train" if split else root
    classes = sorted(p.name for p in train_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{train_root} must hold at least two class folders of images, found "
                        f"{len(classes)}{': ' + classes[0] if classes else ''}")
    not_images: list[str] = []
    stamps: dict = {}

    def files(base: Path, required: bool) -> list[tuple[str, int]]:
        found = []
        for index, name in enumerate(classes):
            folder = base / name
            images = []
            for f in _walk(str(folder), stamps) if folder.is_dir() else []:
                image = os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES or (heif.is_heif(f) and heif.readable(f))
                (images if image else not_images).append(f)
            if not images and required:
                raise DataError(f"class folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            found += [(f, index) for f in images]
        return found

    train = files(train_root, required=True)
    test = None
    if split:
        extra = sorted(p.name for p in (root / "test").iterdir() if p.is_dir() and p.name not in classes)
        if extra:
            raise DataError(f"{root / 'test'} has class folder(s) {', '.join(extra)} that train/ lacks")
        test = files(root / "test", required=False)
        if not test:
            raise DataError(f"{root / 'test'} holds no images")
    return Listing(tuple(shown(c) for c in classes), train, test, not_images, stamps)  # names printable


def digest(listing: Listing, image_size, channels, test_size: float, resize: str = "squash") -> str:
    """What the decoded arrays depend on: every file's path, size and mtime, and the requested form."""
    return listing_digest(listing, [CACHE_FORMAT, list(image_size or ()), channels, test_size, resize])


def placement(listing: Listing, image_size, channels: int | None, budget: int | None) -> tuple[bool, str]:
    """``(stream, why)``: whether the folder's images, decoded at ``image_size`` (else the first image's
    size) with ``channels`` (else 3), exceed ``budget`` bytes (None: a quarter of the memory limit)."""
    count = len(listing.train) + len(listing.test or [])
    if image_size:
        height, width = image_size
    else:
        height, width = _first_size(listing)
    decoded = count * height * width * (channels or 3)
    if budget is None:
        limit, where = memory_limit()
        budget, named = limit // 4, f"a quarter of {where}, {format_size(limit)}"
    else:
        named = "data.memory_budget"
    verdict = "over" if decoded > budget else "within"
    how = "streamed each epoch from a cache of the encoded images on disk" if decoded > budget else "held in memory"
    return decoded > budget, (f"decoded at {height}x{width}x{channels or 3} the {count:,} images take "
                              f"{format_size(decoded)}, {verdict} the memory budget of {format_size(budget)} "
                              f"({named}): {how}")


def _first_size(listing: Listing) -> tuple[int, int]:
    """(H, W) of the first listed file that Pillow can read the header of ((1, 1) if none)."""
    for path, _ in (listing.train + (listing.test or []))[:20]:
        try:
            with Image.open(path) as image:
                return image.height, image.width
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
            continue
    return 1, 1


def listing_digest(listing: Listing, form: list) -> str:
    """A digest of every listed file's path, size, mtime and label, the class names and ``form``."""
    h = hashlib.sha256(json.dumps([*form, listing.class_names]).encode())
    for path, label in listing.train + (listing.test or []):
        size, mtime = listing.stamps[path]
        h.update(os.fsencode(path) + f"\0{size}\0{mtime}\0{label}\n".encode())  # any name, UTF-8 or not
    return h.hexdigest()[:20]


def decode_files(paths: list[str], image_size, channels: int | None,
                 resize: str = "squash") -> tuple[list, list[int]]:
    """Decode ``paths`` in parallel in tf.data; returns ``(images, indices of the files that failed)``.

    Images are uint8 (H, W, C) as the files are to be seen (C 1 or 3: :func:`.decode.decode_upright`),
    fitted to ``image_size`` by ``resize`` and converted to ``channels`` in the graph when given: the decoder
    every other entry (predict, serving, the exported model) uses too.
    """
    import tensorflow as tf  # TensorFlow only once files are decoded

    from .decode import decode_upright, fit_pixels, to_channels  # TensorFlow: loaded when images are decoded

    def decode(index, path):
        image = decode_upright(heif.read_encoded(path))
        if image_size:
            image = fit_pixels(image, image_size, resize)
        if channels:
            image = to_channels(image, channels)
        return index, image

    ds = (tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), [os.fsencode(p) for p in paths]))
          .map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
          .ignore_errors())
    batched = bool(image_size and channels)  # one shape: images travel in batches, not one Python object each
    if batched:
        ds = ds.batch(512)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    images, decoded = [], []
    with native_stderr_held(DECODER_NOISE), progress.bar("decoding images", len(paths), unit="files") as advance:
        for index, image in ds.as_numpy_iterator():
            if batched:
                images.extend(image)
                decoded.extend(index.tolist())
            else:
                images.append(image)
                decoded.append(int(index))
            advance(len(image) if batched else 1)
    failed = sorted(set(range(len(paths))) - set(decoded))
    return images, failed


def to_array(images: list[np.ndarray], channels: int | None, where: Path) -> np.ndarray:
    """One uint8 (N, H, W, C) array: C is ``channels``, or 3 if any image has color, else 1 (alpha dropped)."""
    shapes = {image.shape[:2] for image in images}
    if len(shapes) > 1:
        raise DataError(f"the images in {where} differ in size ({', '.join(f'{h}x{w}' for h, w in sorted(shapes)[:4])}"
                        f"{', ...' if len(shapes) > 4 else ''}); set data.image_size: [H, W]")
    target = channels or (3 if any(image.shape[-1] >= 3 for image in images) else 1)
    size = next(iter(shapes))
    out = np.empty((len(images), *size, target), np.uint8)
    for kind in {image.shape[-1] for image in images}:  # one conversion per channel count in the folder
        index = [i for i, image in enumerate(images) if image.shape[-1] == kind]
        group = np.stack([images[i][..., :3] for i in index])
        out[index] = group if group.shape[-1] == target else convert_images(group, size, target)
    return out


def load_image_folder(root: Path, cache_dir: Path, image_size=None, channels: int | None = None,
                      test_size: float = 0.2, on_bad_file: str = "skip", resize: str = "squash",
                      listing: Listing | None = None) -> dict:
    """The folder as arrays: ``{x_train, y_train, x_test, y_test, class_names, skipped, train_files, test_files}``
    (cached; the file of each image, in order).

    Raises:
        DataError: no images, fewer than two classes, an empty class, bad files with
            ``on_bad_file="error"``, or images of different sizes without ``image_size``.
    """
    root = root.resolve()  # the digest names files by absolute path: resolved once, not per file
    listing = listing or list_folder(root)
    if listing.not_images and on_bad_file == "error":
        raise DataError(f"{len(listing.not_images)} file(s) in {root} are not images: "
                        f"{shown_list(listing.not_images)} (data.on_bad_file: skip ignores them)")
    key = digest(listing, image_size, channels, test_size, resize)
    arrays = cached_arrays(cache_dir / f"folder-{root.name}-{key}.npz",
                           lambda: _decode_folder(root, listing, image_size, channels, test_size, on_bad_file,
                                                  resize))
    return {**arrays, "class_names": tuple(str(c) for c in arrays["class_names"]),
            "skipped": [str(p) for p in arrays["skipped"]]}


def _decode_folder(root: Path, listing: Listing, image_size, channels: int | None, test_size: float,
                   on_bad_file: str, resize: str) -> dict:
    """Decode the listed files and split them: the arrays load_image_folder caches."""
    files = listing.train + (listing.test or [])
    images, failed = decode_files([p for p, _ in files], image_size, channels, resize)
    bad = [str(files[i][0]) for i in failed]
    if bad and on_bad_file == "error":
        raise DataError(f"{len(bad)} image file(s) in {root} do not decode: {shown_list(bad)}")
    y, train, test = split_decoded(root, listing, failed, bad, test_size)
    x = to_array(images, channels, root)
    x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    lost = set(failed)
    decoded = np.array([str(p) for i, (p, _) in enumerate(files) if i not in lost], dtype=str)
    return dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                class_names=list(listing.class_names), skipped=[str(p) for p in listing.not_images] + bad,
                train_files=decoded[train], test_files=decoded[test])


def split_decoded(root: Path, listing: Listing, failed: list[int], bad: list[str],
                  test_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(labels, train, test)`` of the files that decoded (``failed``: the indices, in listing order, of those
    that did not; ``bad``: their paths): the test/ folder's files, or a stratified ``test_size`` share
    held out by a fixed seed. Positions index the decoded files in listing order."""
    failed_set = set(failed)
    files = listing.train + (listing.test or [])
    trained = {label for i, (_, label) in enumerate(listing.train) if i not in failed_set}
    empty = sorted(set(range(len(listing.class_names))) - trained)
    if empty:
        raise DataError(f"no image of class folder(s) {', '.join(listing.class_names[c] for c in empty)} in {root} "
                        f"decodes ({len(bad)} file(s) did not: {shown_list(bad, 3)})")
    y = np.array([label for i, (_, label) in enumerate(files) if i not in failed_set], np.int64)
    n_train = sum(1 for i in range(len(listing.train)) if i not in failed_set)
    if listing.test is not None:
        return y, np.arange(n_train), np.arange(n_train, len(y))
    size = max(len(listing.class_names), int(round(test_size * len(y))))
    if size >= len(y):
        raise DataError(f"{root} has {len(y)} images: too few to hold out {size} for testing")
    train, test = stratified_split(y, size, TEST_SPLIT_SEED)
    return y, train, test
