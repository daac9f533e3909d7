"""From arrays to tf.data: the validation split, normalization statistics and the input pipelines."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from trainlab.augment import AugmentChain
from .datasets import Dataset, load_dataset
from .errors import DataError


@dataclass(frozen=True)
class Normalizer:
    """``(x / 255 - mean) / std`` in one affine step: ``x * scale + offset`` on raw 0-255 pixels."""

    mode: str
    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def fit(cls, mode: str, x_train: np.ndarray) -> "Normalizer":
        """Statistics come from the training split only, never from validation or test."""
        if mode == "none":
            return cls("none")
        if mode == "scale":
            return cls("scale")
        x = x_train.astype(np.float64) / 255.0
        return cls("standardize", float(x.mean()), float(x.std()))

    @property
    def scale(self) -> float:
        return 1.0 if self.mode == "none" else 1.0 / (255.0 * self.std)

    @property
    def offset(self) -> float:
        return 0.0 if self.mode == "none" else -self.mean / self.std

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        return tf.cast(images, tf.float32) * self.scale + self.offset

    def as_params(self) -> dict[str, float | str]:
        return {"mode": self.mode, "mean": self.mean, "std": self.std}


@dataclass
class Splits:
    """uint8 images with a trailing channel axis and int labels for train / validation / test."""

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
    add_channel = lambda x: x[..., None] if x.ndim == 3 else x  # noqa: E731
    return Splits(add_channel(ds.x_train[train]), y[train], add_channel(ds.x_train[val]), y[val],
                  add_channel(ds.x_test[test]), ds.y_test[test])


def load_splits(cfg) -> tuple[Dataset, Splits]:
    """The configured dataset and its train / validation / test splits (``cfg`` is a Config)."""
    ds = load_dataset(cfg.data.dataset, cfg.data.cache_dir)
    d = cfg.data
    return ds, make_splits(ds, d.validation_size, cfg.train.seed, d.limit_train, d.limit_test)


def make_dataset(images: np.ndarray, labels: np.ndarray, *, num_classes: int, batch_size: int,
                 normalizer: Normalizer, training: bool = False, seed: int = 0, shuffle_buffer: int = 60000,
                 label_smoothing: float = 0.0, augment: AugmentChain | None = None) -> tf.data.Dataset:
    """The tf.data input: uint8 arrays -> cache -> shuffle -> batch -> map(augment, normalize) -> prefetch.

    Images stay uint8 until the batched map, which casts them to float pixels, one-hot encodes the
    labels (float targets, smoothed if asked, as mixing needs), augments whole batches (training
    only, each batch with its own seed) and normalizes last.
    """
    augment = augment if training and augment else None

    def prepare(x, y, batch_seed=None):
        targets = tf.one_hot(y, num_classes)
        if label_smoothing:
            targets = targets * (1.0 - label_smoothing) + label_smoothing / num_classes
        x = tf.cast(x, tf.float32)
        if augment is not None:
            x, targets = augment(x, targets, batch_seed)
        return normalizer(x), targets

    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32))).cache()
    if training:
        ds = ds.shuffle(min(shuffle_buffer, len(labels)), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment is not None:  # pair each batch with a fresh seed: new draws every epoch, same run to run
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda batch, batch_seed: prepare(*batch, batch_seed),
                                                num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
