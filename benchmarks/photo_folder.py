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

``--decodings``: trainlab's crop windows decoded in other ways too, interleaved with the others: ``full``
(always at full scale, as before the DCT-scaled windows), ``fast`` (libjpeg's INTEGER_FAST inverse DCT).
``--sides``: the photos' shortest and longest side (``--sides 1500 3000``: phone-sized photos, where a
224 px crop window is often decoded at 1/4 or 1/8 scale).

    .venv/bin/python benchmarks/photo_folder.py [--images 20000] [--repeats 3] [--root DIR] [--sides 300 640]
        [--decodings full fast]
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
    """One JPEG: smooth colour fields with grain, a class tint, sides between ``sides`` (300-640 px)."""
    import numpy as np
    from PIL import Image
    path, index, sides = args
    rng = np.random.default_rng(index)
    height, width = (int(v) for v in rng.integers(sides[0], sides[1] + 1, 2))
    coarse = rng.integers(0, 256, (height // 24 + 2, width // 24 + 2, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), np.float32)
    image[..., index % 3] *= 0.6 + 0.04 * (index % 10)
    image += rng.normal(0, 10, image.shape)  # sensor grain: what makes a photo's JPEG as large as it is
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=90)


def make_folder(root: Path, images: int, sides=(300, 640)) -> Path:
    done = root / f".complete-{images}"
    if done.exists():
        return root
    jobs = []
    for index in range(images):
        folder = root / f"class{index % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        jobs.append((folder / f"{index:06d}.jpg", index, tuple(sides)))
    start = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_photo, jobs, chunksize=64))
    done.touch()
    print(f"made {images:,} JPEGs in {root} in {time.perf_counter() - start:.0f} s", flush=True)
    return root


DECODINGS = {"full": {"JPEG_SCALES": (1,)}, "fast": {"DCT_METHOD": "INTEGER_FAST"}}  # see --decodings


def trainlab_epoch(images, labels, decoding: str | None = None) -> float:
    from contextlib import nullcontext
    from unittest import mock

    from trainlab.pipeline.data import streamed
    decoded = mock.patch.multiple(streamed, **DECODINGS[decoding]) if decoding else nullcontext()
    with decoded:  # read as the input is built and run
        return _trainlab_epoch(images, labels)


def _trainlab_epoch(images, labels) -> float:
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
    parser.add_argument("--sides", type=int, nargs=2, default=[300, 640], metavar=("SHORTEST", "LONGEST"))
    parser.add_argument("--decodings", nargs="*", default=[], choices=sorted(DECODINGS))
    args = parser.parse_args()
    name = str(args.images) if args.sides == [300, 640] else f"{args.images}-{args.sides[0]}-{args.sides[1]}"
    root = make_folder(args.root / name, args.images, args.sides)
    from trainlab.pipeline.data.dataset import SourceOptions
    from trainlab.pipeline.data.sources import load_dataset
    cache = args.root / "cache"
    start = time.perf_counter()
    ds = load_dataset(str(root), cache, SourceOptions(image_size=(224, 224), memory_budget=0, test_size=0.01))
    store = ds.x_train.store
    print(f"store built (or found) in {time.perf_counter() - start:.1f} s: {len(store.labels):,} records, "
          f"{store.size_on_disk() / 1e9:.2f} GB on disk", flush=True)
    print(f"{os.cpu_count()} cores; {args.repeats} interleaved epochs of each input", flush=True)
    inputs = {"trainlab": lambda: trainlab_epoch(ds.x_train, ds.y_train)}
    inputs |= {f"trainlab {d}": lambda d=d: trainlab_epoch(ds.x_train, ds.y_train, d) for d in args.decodings}
    inputs["Keras"] = lambda: keras_epoch(root)
    rates = {name: [] for name in inputs}
    for repeat in range(args.repeats):
        for name, epoch in inputs.items():
            rates[name].append(epoch())
        print(f"  repeat {repeat + 1}: " + ", ".join(f"{n} {r[-1]:,.0f} img/s" for n, r in rates.items()), flush=True)
    a, b = statistics.median(rates["trainlab"]), statistics.median(rates["Keras"])
    print(f"trainlab streamed (rrc 224 from the JPEG window + flip): {a:,.0f} img/s "
          f"({a / os.cpu_count():,.0f} per core)")
    for d in args.decodings:
        print(f"trainlab, windows decoded {d}: {statistics.median(rates[f'trainlab {d}']):,.0f} img/s")
    print(f"Keras image_dataset_from_directory (256) + RandomCrop 224 + RandomFlip: {b:,.0f} img/s")
    print(f"ratio {a / b:.2f}x")


if __name__ == "__main__":
    main()
