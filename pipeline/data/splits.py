"""The train / validation / test split of a dataset: a stratified, seeded validation carve-out."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .dataset import Dataset


@dataclass
class Splits:
    """uint8 images (N, H, W, C) and int labels for train / validation / test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


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
    test = np.arange(len(ds.y_test) if limit_test is None else min(limit_test, len(ds.y_test)))
    return Splits(ds.x_train[train], y[train], ds.x_train[val], y[val], ds.x_test[test], ds.y_test[test])
