"""The size an image folder is trained at when ``data.image_size`` is not set, as Keras's
``image_dataset_from_directory`` has a default size: a folder of photos of many sizes (what a phone gives)
works with every default.

The rule: a folder whose images have one size keeps it. Otherwise the images are made square at the median
shorter side of their headers (Pillow reads the header only), clipped to [32, 224] and rounded to the nearest
multiple of 8 (halves up), and fitted keeping their aspect (``center_crop``: the shorter side resized to fit,
the longer one cropped about the centre) unless ``data.resize`` says otherwise. Headers are read from at most
``SAMPLE_FILES`` files, evenly spaced in the listing.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .dataset import SourceOptions
from .folders import list_folder
from .paths import is_image_folder

SAMPLE_FILES = 2000
SMALLEST, LARGEST, MULTIPLE = 32, 224, 8


@dataclass(frozen=True)
class SizeChoice:
    """The size a folder of mixed sizes is trained at, and why."""

    size: tuple[int, int]
    resize: str
    why: str


def header_sizes(paths: list[str]) -> list[tuple[int, int]]:
    """(H, W) of each file whose header Pillow reads (others are left out: they are skipped when decoded)."""
    sizes = []
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes.append((image.height, image.width))
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError):
            continue
    return sizes


def choose_size(paths: list[str], resize: str | None, where: str) -> SizeChoice | None:
    """None when the sampled images of ``paths`` share one size; else the size to train at (see the module)."""
    step = max(1, len(paths) // SAMPLE_FILES)
    sizes = header_sizes(paths[::step][:SAMPLE_FILES])
    if len(set(sizes)) <= 1:
        return None
    shorter = float(np.median([min(s) for s in sizes]))
    side = int(min(LARGEST, max(SMALLEST, int(shorter / MULTIPLE + 0.5) * MULTIPLE)))  # halves round up
    resize = resize or "center_crop"
    sampled = f"{len(sizes):,} sampled" if step > 1 else f"{len(sizes):,}"
    kinds = len(set(sizes))
    how = {"center_crop": "keeping the aspect (shorter side to fit, the longer one cropped about the centre)",
           "pad": "keeping the aspect (longer side to fit, padded with black)",
           "squash": "squashed to the square whatever their aspect"}[resize]
    why = (f"data.image_size [{side}, {side}]: the images in {where} have {kinds} sizes ({sampled} headers read); "
           f"their median shorter side is {shorter:g} px, clipped to [{SMALLEST}, {LARGEST}] and rounded to a "
           f"multiple of {MULTIPLE}; data.resize {resize}: {how}")
    return SizeChoice((side, side), resize, why)


_CHOSEN: dict = {}  # (folder, its folders' mtimes, data.resize) -> SizeChoice | None: headers read once a process


def folder_choice(path: str | os.PathLike, resize: str | None) -> SizeChoice | None:
    """:func:`choose_size` for the image folder at ``path``; None for anything that is not one (a file, a CIFAR
    or IDX folder, a name that is no path)."""
    root = Path(path)
    if not is_image_folder(root):
        return None
    root = root.resolve()
    key = (str(root), tuple(os.stat(d).st_mtime_ns for d, _, _ in os.walk(root)), resize)
    if key not in _CHOSEN:
        listing = list_folder(root)
        _CHOSEN[key] = choose_size([p for p, _ in listing.train + (listing.test or [])], resize, str(path))
    return _CHOSEN[key]


def source_options(data) -> SourceOptions:
    """:meth:`SourceOptions.of` a DataConfig, with the size and fitting :func:`folder_choice` gives a folder of
    mixed sizes when ``data.image_size`` is unset."""
    chosen = None if data.image_size else folder_choice(data.dataset, data.resize)
    if chosen is None:
        return SourceOptions.of(data)
    return dataclasses.replace(SourceOptions.of(data), image_size=chosen.size, resize=data.resize or chosen.resize)
