"""From arrays to tf.data: the validation split, normalization statistics and the input pipelines."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from trainlab.augment import AugmentChain

from .dataset import Dataset
from .sizing import source_options
from .sources import load_dataset
from .splits import Splits, make_splits, validation_count
from .streamed import CROP_SEED_SALT, StreamedImages


@dataclass(frozen=True)
class Normalizer:
    """``(x / 255 - mean) / std`` per channel in one affine step: ``x * scale + offset`` on raw 0-255 pixels."""

    mode: str
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    @classmethod
    def fit(cls, mode: str, x_train: np.ndarray) -> "Normalizer":
        """Statistics per channel, from the training split only (never validation or test).

        ``x_train``: uint8 (N, H, W, C). Summed in chunks, so a large color set is never copied to floats;
        images streamed from disk contribute an evenly spread sample of at most ``STREAMED_SAMPLE``.
        """
        channels = x_train.shape[-1]
        if mode in ("none", "scale"):
            return cls(mode, (0.0,) * channels, (1.0,) * channels)
        total, squares, count = np.zeros(channels), np.zeros(channels), 0
        for chunk in _chunks(x_train):
            chunk = chunk.reshape(-1, channels).astype(np.float64) / 255.0
            total += chunk.sum(axis=0)
            squares += np.square(chunk).sum(axis=0)
            count += len(chunk)
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
        if mode == "center":  # zero mean at the scale of [0, 1] pixels: no division by the std
            return cls("center", tuple(float(m) for m in mean), (1.0,) * channels)
        return cls("standardize", tuple(float(m) for m in mean), tuple(float(s) or 1.0 for s in std))

    @classmethod
    def affine(cls, scale, offset) -> "Normalizer":
        """The normalizer whose ``x * scale + offset`` is the given one (a pretrained model's: mode
        ``pretrained``), one value or one per channel."""
        std = [1.0 / (255.0 * s) for s in scale]
        return cls("pretrained", tuple(-o * d for o, d in zip(offset, std)), tuple(std))

    @property
    def scale(self) -> list[float]:
        """Per-channel multiplier on 0-255 pixels."""
        return [1.0 if self.mode == "none" else 1.0 / (255.0 * s) for s in self.std]

    @property
    def offset(self) -> list[float]:
        return [0.0 if self.mode == "none" else -m / s for m, s in zip(self.mean, self.std)]

    def __call__(self, images) -> tf.Tensor:
        """Float32 ``images * scale + offset`` of 0-255 pixels (..., C), float or uint8. uint8 ones in one op,
        TensorFlow's ``Dequantize`` (``offset + x * (255 * scale) / 255``, within an ulp of the same): a
        single float tensor written instead of a cast, a multiply and an add each writing one (a 128-image
        batch of 224 x 224 x 3 floats is 77 MB: 14 ms instead of 23 on these cores, and a streamed photo
        epoch 12-18% faster)."""
        images = tf.convert_to_tensor(images)
        scale, offset = tf.constant(self.scale), tf.constant(self.offset)
        per_channel = len(self.scale) == images.shape[-1]
        if images.dtype != tf.uint8 or images.shape.rank is None or not (per_channel or len(self.scale) == 1):
            return tf.cast(images, tf.float32) * scale + offset
        axis = images.shape.rank - 1 if per_channel and len(self.scale) > 1 else None
        low, high = (offset, offset + 255.0 * scale) if axis is not None else (offset[0], offset[0] + 255.0 * scale[0])
        return tf.quantization.dequantize(tf.bitcast(images, tf.quint8), low, high, mode="MIN_COMBINED", axis=axis)

    def as_params(self) -> dict[str, str]:
        """For the run's params: per-channel values joined by commas (``0.1307`` for one channel)."""
        return {"mode": self.mode, "mean": ",".join(f"{m:.6g}" for m in self.mean),
                "std": ",".join(f"{s:.6g}" for s in self.std)}


STREAMED_SAMPLE = 10_000


def _chunks(images, values: int = 2**22):
    """uint8 arrays of about ``values`` pixel values each (a chunk becomes float64 arrays: 32 MB each at
    the default, whatever the image size): all of an array; of streamed images an evenly spread sample."""
    size = max(1, values // int(np.prod(images.shape[1:])))
    if isinstance(images, np.ndarray):
        for start in range(0, len(images), size):
            yield images[start:start + size]
        return
    positions = np.unique(np.linspace(0, len(images) - 1, min(len(images), STREAMED_SAMPLE)).astype(np.int64))
    yield from images.chunks(size, positions)


EVALUATION_PIXELS = 2**24  # pixel values per evaluation batch at most: 64 MB as float32


def evaluation_batch(shape, training_batch: int, most: int = 1000) -> int:
    """Images per evaluation batch for images of ``shape`` (N, H, W, C): up to ``most`` (MNIST, CIFAR), but
    about 64 MB of float pixels at most (a forward pass's activations grow with it: 1,000 photos at 224 px
    are 600 MB of input alone), and never fewer than the training batch, which is known to fit."""
    return max(1, min(most, max(training_batch, EVALUATION_PIXELS // int(np.prod(shape[1:])))))


def load_splits(cfg) -> tuple[Dataset, Splits]:
    """The configured dataset and its train / validation / test splits (``cfg`` is a Config)."""
    ds = load_dataset(cfg.data.dataset, cfg.data.cache_dir, source_options(cfg.data))
    d = cfg.data
    available = len(ds.y_train) if d.limit_train is None else min(d.limit_train, len(ds.y_train))
    val = validation_count(d.validation_size, available, ds.num_classes)
    return ds, make_splits(ds, val, cfg.train.seed, d.limit_train, d.limit_test)


def make_dataset(images: np.ndarray, labels: np.ndarray, *, num_classes: int, batch_size: int,
                 normalizer: Normalizer, training: bool = False, seed: int = 0, shuffle_buffer: int = 60000,
                 label_smoothing: float = 0.0, augment: AugmentChain | None = None,
                 epoch: tf.Variable | None = None, parallel: bool = True,
                 share: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
    """The tf.data input: uint8 arrays -> shuffled batches -> map(augment, normalize) -> prefetch.

    Images streamed from disk (:class:`StreamedImages`) are read in the same order and decoded in
    parallel, one image at a time, then batched; a chain that starts with a random-resized crop has it
    drawn per image and decoded as a window, a flip right after it applied per image too
    (``augment.per_image_lead``), the rest applied to batches.

    Images stay uint8 until the batched map, which casts them to float pixels, one-hot encodes the
    labels (float targets, smoothed if asked, as mixing needs), augments whole batches (training
    only) and normalizes last.

    A training pass is a function of ``(seed, epoch)`` alone: the shuffle order and every batch's
    augmentation seed derive from the value of ``epoch`` (an int64 variable the trainer sets at each
    epoch's start; 0 when not given) when the pass begins. A run resumed at epoch k therefore sees
    exactly the batches the uninterrupted run saw from epoch k on.

    ``parallel=False`` maps batches one at a time (TF op determinism rewrites a parallel map into a
    sequential one anyway, and logs an error line for each rewrite).

    ``share=(index, count)``: the training batches are read by ``count`` input pipelines (the workers of a
    multi-worker strategy, JAX processes), each its own share of every batch (:func:`batch_share`): batches
    of ``len(range(index, batch_size, count))`` images, streamed ones decoded by that pipeline only.
    """
    calls = tf.data.AUTOTUNE if parallel else None
    augment = augment if training and augment else None
    streamed = isinstance(images, StreamedImages)
    lead = augment.per_image_lead if streamed and augment is not None else ()  # applied while decoding
    first_op = len(lead)

    def prepare(x, y, batch_seed=None):
        targets = tf.one_hot(y, num_classes)
        if label_smoothing:
            targets = targets * (1.0 - label_smoothing) + label_smoothing / num_classes
        if augment is not None and len(augment.ops) > first_op:  # ops left for the batch: on float pixels
            x, targets = augment(tf.cast(x, tf.float32), targets, batch_seed, start=first_op)
        return normalizer(x), targets

    labels = labels.astype(np.int32)
    if training:
        batches = _training_batches(images, labels, batch_size, seed, shuffle_buffer, epoch, lead, parallel,
                                    with_seeds=augment is not None, share=share)
    else:
        batches = _evaluation_batches(images, labels, batch_size, parallel)
    ds = batches.map(prepare, num_parallel_calls=calls).prefetch(tf.data.AUTOTUNE)
    return ds.with_options(streamed_options()) if streamed else ds


def batch_share(size: int, batch_size: int, share: tuple[int, int]) -> tuple[np.ndarray, int]:
    """The places (in a pass of ``size`` images) of one input pipeline's share, and its batch size: image
    ``j`` of every batch where ``j % count == index``. A last batch that does not split evenly among the
    pipelines is left out of the pass (every pipeline must take as many steps, JAX processes equal ones)."""
    index, count = share
    if size % batch_size % count:
        size -= size % batch_size
    places = np.arange(size, dtype=np.int64)
    return places[places % batch_size % count == index], len(range(index, batch_size, count))


def _evaluation_batches(images, labels: np.ndarray, batch_size: int, parallel: bool) -> tf.data.Dataset:
    """``(uint8 images, labels)`` batches in order."""
    if isinstance(images, StreamedImages):
        examples = tf.data.Dataset.zip(images.decoded(tf.data.Dataset.range(len(labels)), parallel=parallel),
                                       tf.data.Dataset.from_tensor_slices(labels))
        examples = examples.apply(tf.data.experimental.assert_cardinality(len(labels)))  # lost by unbatching
    else:
        examples = tf.data.Dataset.from_tensor_slices((images, labels))
    return examples.batch(batch_size)


def _training_batches(images, labels: np.ndarray, batch_size: int, seed: int, shuffle_buffer: int,
                      epoch: tf.Variable | None, lead: tuple, parallel: bool, with_seeds: bool,
                      share: tuple[int, int]) -> tf.data.Dataset:
    """``(uint8 images, labels[, augmentation seed])`` batches of one pass, in the order of ``(seed, epoch)``;
    of a streamed input, this pipeline's share of each batch (its crops drawn as in the whole pass, its
    batches' augmentation seeds its own)."""
    streamed = isinstance(images, StreamedImages)
    n = len(labels)
    places, share_batch = batch_share(n, batch_size, share)
    steps = -(-len(places) // share_batch)
    places_t = tf.constant(places)
    labels_t = tf.constant(labels)
    images_t = None if streamed else tf.constant(images)
    base_seed = tf.constant(seed, tf.int64)
    index, count = share

    def one_pass(_):
        """One epoch's batches: a stateless permutation (full, or local within about ``shuffle_buffer``
        places, like a shuffle buffer), each batch gathered and paired with its own augmentation seed."""
        e = tf.constant(0, tf.int64) if epoch is None else epoch.read_value()
        keys = tf.random.stateless_uniform([n], seed=tf.stack([base_seed, e]))
        if shuffle_buffer < n:
            keys = tf.range(n, dtype=tf.float32) + keys * shuffle_buffer
        order = tf.argsort(keys)
        if streamed:
            mine = tf.gather(tf.cast(order, tf.int64), places_t)
            positions = tf.data.Dataset.from_tensor_slices(mine)
            seeds = tf.data.Dataset.from_tensor_slices(places_t).map(
                lambda i: tf.stack([base_seed + CROP_SEED_SALT, e * n + i]))
            batches = tf.data.Dataset.zip(images.decoded(positions, seeds, lead, parallel),
                                          tf.data.Dataset.from_tensor_slices(tf.gather(labels_t, mine)))
            batches = batches.batch(share_batch)
        else:
            batches = tf.data.Dataset.from_tensor_slices(tf.gather(order, places_t)).batch(share_batch).map(
                lambda idx: (tf.gather(images_t, idx), tf.gather(labels_t, idx)))
        if not with_seeds:
            return batches
        batch_seeds = tf.data.Dataset.range(steps).map(  # one pipeline: (seed, e * steps + i)
            lambda i: tf.stack([base_seed, (e * steps + i) * count + index]))
        return tf.data.Dataset.zip(batches, batch_seeds).map(lambda batch, batch_seed: (*batch, batch_seed))

    ds = tf.data.Dataset.range(1).flat_map(one_pass)  # re-run at every pass: reads the epoch then
    return ds.apply(tf.data.experimental.assert_cardinality(steps))


def streamed_options() -> tf.data.Options:
    """A streamed input runs at the parallelism it sets (decodes: 2x the cores) with autotuning off:
    measured on 6,000 JPEGs, crop + flip to 224 in batches of 128, autotuning held epochs at 577 img/s
    with stalls of up to 5 s at an epoch's end, against 690 img/s without. Each op runs on one thread (the
    decodes in flight already fill the cores; an op split over threads only adds their wake-ups): 3-6% more
    images a second in each of three paired epochs of 19,800 photos (2026-12-07)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    options.threading.max_intra_op_parallelism = 1
    return options
