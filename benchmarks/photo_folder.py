"""The training input of a photo folder streamed from disk, against the input a Keras user would write.

Makes (once) a folder of JPEGs (quality 90, sides 300-640 px, mixed aspect ratios, 10 classes; 20,000 by
default, outside the repo), then measures one epoch of each input, interleaved, median of ``--repeats``:
- trainlab: the folder streamed (data.memory_budget 0) from its ArrayRecord store, random-resized crop
  to 224 drawn before decoding (a JPEG decodes only the window) + horizontal flip, batches of 128, through
  ``make_dataset`` as training runs it (one-hot targets and normalization included);
- Keras: ``keras.utils.image_dataset_from_directory(image_size=(256, 256), batch_size=128)`` mapped
  through ``keras.layers.RandomCrop(224, 224)`` and ``RandomFlip("horizontal")`` with AUTOTUNE, then
  prefetch.
The store's build (the first pass: every file decode-checked in parallel and written) is reported
separately, with its size on disk. Images per second on this machine's cores, nothing else running.

    .venv/bin/python benchmarks/photo_folder.py [--images 20000] [--repeats 3] [--root DIR]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _photo(args) -> None:
    """One JPEG: smooth colour fields with grain, a class tint, sides 300-640 px."""
    import numpy as np
    from PIL import Image
    path, index = args
    rng = np.random.default_rng(index)
    height, width = (int(v) for v in rng.integers(300, 641, 2))
    coarse = rng.integers(0, 256, (height // 24 + 2, width // 24 + 2, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), np.float32)
    image[..., index % 3] *= 0.6 + 0.04 * (index % 10)
    image += rng.normal(0, 10, image.shape)  # sensor grain: what makes a photo's JPEG as large as it is
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=90)


def make_folder(root: Path, images: int) -> Path:
    done = root / f".complete-{images}"
    if done.exists():
        return root
    jobs = []
    for index in range(images):
        folder = root / f"class{index % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        jobs.append((folder / f"{index:06d}.jpg", index))
    start = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_photo, jobs, chunksize=64))
    done.touch()
    print(f"made {images:,} JPEGs in {root} in {time.perf_counter() - start:.0f} s", flush=True)
    return root


def trainlab_epoch(images, labels) -> float:
    from trainlab.augment import AugmentChain
    from trainlab.pipeline.data.inputs import Normalizer, make_dataset
    chain = AugmentChain([{"name": "random_resized_crop"}, {"name": "flip_horizontal", "p": 0.5}])
    ds = make_dataset(images, labels, num_classes=10, batch_size=128, normalizer=Normalizer("standardize"),
                      training=True, seed=0, augment=chain)
    return _images_per_second(ds)


def keras_epoch(root: Path) -> float:
    import keras
    import tensorflow as tf
    ds = keras.utils.image_dataset_from_directory(root, image_size=(256, 256), batch_size=128, seed=0, verbose=False)
    crop, flip = keras.layers.RandomCrop(224, 224), keras.layers.RandomFlip("horizontal")
    ds = ds.map(lambda x, y: (flip(crop(x, training=True), training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return _images_per_second(ds.prefetch(tf.data.AUTOTUNE))


def _images_per_second(ds) -> float:
    start, count = time.perf_counter(), 0
    for x, _ in ds:
        count += int(x.shape[0])
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path.home() / ".cache" / "trainlab-bench" / "photos")
    args = parser.parse_args()
    root = make_folder(args.root / str(args.images), args.images)
    from trainlab.pipeline.data.dataset import SourceOptions
    from trainlab.pipeline.data.sources import load_dataset
    cache = args.root / "cache"
    start = time.perf_counter()
    ds = load_dataset(str(root), cache, SourceOptions(image_size=(224, 224), memory_budget=0, test_size=0.01))
    store = ds.x_train.store
    print(f"store built (or found) in {time.perf_counter() - start:.1f} s: {len(store.labels):,} records, "
          f"{store.size_on_disk() / 1e9:.2f} GB on disk", flush=True)
    print(f"{os.cpu_count()} cores; {args.repeats} interleaved epochs of each input", flush=True)
    ours, theirs = [], []
    for repeat in range(args.repeats):
        ours.append(trainlab_epoch(ds.x_train, ds.y_train))
        theirs.append(keras_epoch(root))
        print(f"  repeat {repeat + 1}: trainlab {ours[-1]:,.0f} img/s, Keras {theirs[-1]:,.0f} img/s", flush=True)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"trainlab streamed (rrc 224 from the JPEG window + flip): {a:,.0f} img/s "
          f"({a / os.cpu_count():,.0f} per core)")
    print(f"Keras image_dataset_from_directory (256) + RandomCrop 224 + RandomFlip: {b:,.0f} img/s")
    print(f"ratio {a / b:.2f}x")


if __name__ == "__main__":
    main()
