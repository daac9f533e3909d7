"""The train / validation / test split of a dataset: a stratified, seeded validation carve-out."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .dataset import Dataset, take


@dataclass
class Splits:
    """uint8 images (N, H, W, C) and int labels for train / validation / test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_index: np.ndarray | None = None  # the positions in the dataset's training images of x_train and x_val
    val_index: np.ndarray | None = None


DEFAULT_VALIDATION_FRACTION, DEFAULT_VALIDATION_MAX = 0.1, 5000


def validation_count(size: int | float | None, available: int, num_classes: int) -> int:
    """The validation images ``data.validation_size`` asks of ``available`` training images: a count as
    given, a fraction of them rounded, or (None) 10% of them, at most 5,000 and at least one per class."""
    if size is None:
        return min(DEFAULT_VALIDATION_MAX, max(num_classes, round(DEFAULT_VALIDATION_FRACTION * available)))
    return int(size) if size >= 1 else max(1, round(size * available))


def stratified_split(labels: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)``: ``size`` validation items drawn per class in proportion, seeded.

    Per-class quotas use the largest-remainder rule, so they add up to exactly ``size``.
    """
    if not 0 < size < len(labels):
        raise DataError(f"validation size must be in (0, {len(labels)}), got {size}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = size * counts / len(labels)
    quotas = np.floor(exact).astype(int)
    quotas[np.argsort(-(exact - quotas), kind="stable")[: size - quotas.sum()]] += 1
    val = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quotas)])
    val = np.sort(val)
    return np.setdiff1d(np.arange(len(labels)), val, assume_unique=True), val


def make_splits(ds: Dataset, validation_size: int, seed: int, limit_train: int | None = None,
                limit_test: int | None = None) -> Splits:
    """Carve the validation set from the training set; optionally keep a stratified subset."""
    y = ds.y_train
    if limit_train is not None and limit_train < len(y):
        _, keep = stratified_split(y, limit_train, seed + 1)
    else:
        keep = np.arange(len(y))
    train, val = stratified_split(y[keep], validation_size, seed)
    train, val = keep[train], keep[val]
    starved = sorted(set(np.unique(y[val]).tolist()) - set(np.unique(y[train]).tolist()))
    if starved:
        c = starved[0]
        raise DataError(f"class {ds.class_names[c]!r} has only {int((y[keep] == c).sum())} image(s): too few to "
                        f"keep any for training beside its validation share; add images of it or remove the class")
    test = np.arange(len(ds.y_test) if limit_test is None else min(limit_test, len(ds.y_test)))
    return Splits(take(ds.x_train, train), y[train], take(ds.x_train, val), y[val], take(ds.x_test, test),
                  ds.y_test[test], train, val)
