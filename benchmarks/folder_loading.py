"""Image-folder loading: decode throughput of a generated folder of 32x32 PNGs, first load (decoding in
tf.data) against cached load (one .npz read), and the training epoch time from the folder against the
same images given as in-memory arrays.

    .venv/bin/python benchmarks/folder_loading.py [--images 10000] [--repeats 3] [--epochs 2]

Each procedure runs --repeats times, interleaved (first load, cached load; folder epoch, array epoch),
and the medians are printed. Targets (issue "any image data"): first load >= 3,000 images/s on 2 cores,
cached load >= 20x faster, and training from the folder no slower than from arrays after the first load.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from trainlab.pipeline.data.dataset import SourceOptions
from trainlab.pipeline.data.sources import load_dataset  # noqa: E402


def write_folder(root: Path, count: int, classes: int = 10, seed: int = 0) -> None:
    """``count`` 32x32 RGB PNGs in ``classes`` class folders: a colored disc on noise, per class."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
    for i in range(count):
        c = i % classes
        image = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
        disc = (yy - 16 - rng.integers(-4, 5)) ** 2 + (xx - 16 - rng.integers(-4, 5)) ** 2 < 36 + 4 * c
        image[disc] = rng.integers(120, 256, 3)
        (root / f"class{c}" / f"{i:05d}.png").write_bytes(tf.io.encode_png(image).numpy())


def timed_load(folder: Path, cache: Path) -> tuple[float, int]:
    start = time.perf_counter()
    ds = load_dataset(str(folder), cache, SourceOptions())
    return time.perf_counter() - start, len(ds.y_train) + len(ds.y_test)


def epoch_seconds(x: np.ndarray, y: np.ndarray, epochs: int) -> float:
    """Seconds per epoch (median over epochs after the first) of the `cnn` model, width 16, float32."""
    import keras

    from trainlab.models import create_model
    keras.utils.set_random_seed(0)
    model = create_model("cnn", input_shape=x.shape[1:], num_classes=10, width=16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    data = (tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(len(y), seed=0).batch(128)
            .map(lambda a, b: (tf.cast(a, tf.float32) / 255.0, b), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(data, epochs=epochs + 1, verbose=0, callbacks=[Timer()])
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="trainlab-folder-bench-"))
    try:
        folder = tmp / "images"
        start = time.perf_counter()
        write_folder(folder, args.images)
        print(f"wrote {args.images} 32x32 PNGs in {time.perf_counter() - start:.1f}s")
        first, cached = [], []
        for r in range(args.repeats):  # interleaved: a fresh cache folder makes each first load a real one
            cache = tmp / f"cache{r}"
            seconds, n = timed_load(folder, cache)
            first.append(n / seconds)
            seconds, n = timed_load(folder, cache)
            cached.append(n / seconds)
        ds = load_dataset(str(folder), tmp / "cache0", SourceOptions())
        arrays = (np.ascontiguousarray(ds.x_train), ds.y_train)
        from_folder, from_arrays = [], []
        for _ in range(args.repeats):
            again = load_dataset(str(folder), tmp / "cache0", SourceOptions())  # the cached load, as training sees it
            from_folder.append(epoch_seconds(again.x_train, again.y_train, args.epochs))
            from_arrays.append(epoch_seconds(*arrays, args.epochs))
        med = statistics.median
        print(f"first load  (decode in tf.data): {med(first):,.0f} images/s   runs {[f'{v:,.0f}' for v in first]}")
        print(f"cached load (one .npz read):     {med(cached):,.0f} images/s   runs {[f'{v:,.0f}' for v in cached]}")
        print(f"cached / first: {med(cached) / med(first):.1f}x")
        print(f"epoch from the folder's arrays: {med(from_folder):.2f}s; "
              f"from in-memory arrays: {med(from_arrays):.2f}s "
              f"({len(ds.y_train)} training images, cnn width 16)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
