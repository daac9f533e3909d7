"""Augmentation throughput: each op and the default chain, beside keras core (and keras-cv) layers,
and the training epoch time with and without the default chain.

    .venv/bin/python benchmarks/augment_speed.py [--batch 128] [--batches 200] [--epoch-images 20000]

Prints images/second measured inside tf.data (map after batch, AUTOTUNE), as training uses them.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from trainlab.augment import AugmentChain, list_augmentations  # noqa: E402
from trainlab.pipeline.config.recipes import DEFAULT_AUGMENT  # noqa: E402
from trainlab.pipeline.data.sources import load_dataset  # noqa: E402


def throughput(fn, images, labels, batch, batches) -> float:
    """Images/s of ``fn(images_float, targets, seed)`` over ``batches`` batches in tf.data."""
    seeds = tf.data.Dataset.random(seed=0).batch(2)
    ds = (tf.data.Dataset.from_tensor_slices((images, labels)).cache().repeat().batch(batch).take(batches))
    ds = tf.data.Dataset.zip(ds, seeds).map(
        lambda b, s: fn(tf.cast(b[0], tf.float32), tf.one_hot(b[1], 10), s),
        num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    for _ in ds.take(5):  # trace and warm up
        pass
    start = time.perf_counter()
    count = sum(int(x.shape[0]) for x, _ in ds)
    return count / (time.perf_counter() - start)


def keras_layer(layer):
    return lambda x, y, s: (layer(x, training=True), y)


def epoch_seconds(x, y, images: int, repeats: int = 3) -> tuple[float, float]:
    """Best-of-``repeats`` epoch time of one cnn on ``images`` images, without and with the default chain,
    the two alternating on the same model so warm-up and machine noise hit both alike."""
    from trainlab.models import create_model
    from trainlab.pipeline.data.inputs import Normalizer, make_dataset
    datasets = [make_dataset(x[:images], y[:images], num_classes=10, batch_size=128, normalizer=Normalizer("scale"),
                             training=True, augment=chain) for chain in (None, AugmentChain(DEFAULT_AUGMENT))]
    model = create_model("cnn")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    for ds in datasets:
        model.fit(ds.take(20), verbose=0)
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, ds in enumerate(datasets):
            start = time.perf_counter()
            model.fit(ds, verbose=0)
            best[i] = min(best[i], time.perf_counter() - start)
    return best[0], best[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--epoch-images", type=int, default=20000)
    args = parser.parse_args()
    ds = load_dataset("mnist")
    x, y = ds.x_train, ds.y_train.astype(np.int32)
    rows = []
    for name in list_augmentations():
        chain = AugmentChain([{"name": name}])
        rows.append(("trainlab", name, throughput(chain, x, y, args.batch, args.batches)))
    rows.append(("trainlab", f"default chain {DEFAULT_AUGMENT}",
                 throughput(AugmentChain(DEFAULT_AUGMENT), x, y, args.batch, args.batches)))
    peers = {"RandomCrop(28,28) after ZeroPadding": keras.Sequential([keras.layers.ZeroPadding2D(2),
                                                                      keras.layers.RandomCrop(28, 28)]),
             "RandomTranslation(0.07)": keras.layers.RandomTranslation(0.07, 0.07),
             "RandomRotation(0.03)": keras.layers.RandomRotation(0.03),
             "RandomContrast(0.3)": keras.layers.RandomContrast(0.3, value_range=(0, 255)),
             "RandAugment": keras.layers.RandAugment(value_range=(0, 255))}
    for name, layer in peers.items():
        rows.append(("keras", name, throughput(keras_layer(layer), x, y, args.batch, args.batches)))
    try:
        import keras_cv  # its RandAugment fails on 1-channel images, so it is not compared
        rows.append(("keras_cv", "RandomCutout(0.3)", throughput(
            keras_layer(keras_cv.layers.RandomCutout(0.3, 0.3)), x, y, args.batch, args.batches)))
    except ImportError:
        rows.append(("keras_cv", "(not installed: pip install 'trainlab[keras-cv]')", float("nan")))
    print(f"{'source':<9} {'op':<52} {'images/s':>10}")
    for source, name, speed in rows:
        print(f"{source:<9} {name:<52} {speed:>10,.0f}")
    plain, augmented = epoch_seconds(x, y, args.epoch_images)
    print(f"\ncnn epoch on {args.epoch_images} images (best of 3): {plain:.2f}s without augmentation, "
          f"{augmented:.2f}s with the default chain ({100 * (augmented / plain - 1):+.1f}%)")


if __name__ == "__main__":
    main()
