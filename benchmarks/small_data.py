"""Small data with every default: a generated folder of 600 colour photos (4 shapes at a random colour,
size and place, 36x36; tests/shapes.py), trained by `trainlab train --dataset DIR` for three seeds, with
batch norm's momentum fitted to the steps per epoch (the default) and with Keras's 0.99, interleaved
(``--streamed``: read from memory and streamed from disk, data.memory_budget 0; ``--jpeg SIDE``: the
photos as SIDE px JPEGs streamed at 36 px, their crop windows decoded at DCT scale (the default), at full
scale and with the INTEGER_FAST inverse DCT).
Prints best validation and test accuracy per seed, and each setting's mean and range.

    .venv/bin/python benchmarks/small_data.py [--seeds 42 7 1] [--per-class 150] [--streamed | --jpeg 144]
        [--crop]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETTINGS = {"fitted (default)": {}, "Keras 0.99": {"train.bn_momentum": 0.99}}
STREAMED = {"in memory": {}, "streamed": {"data.memory_budget": 0}}
# streamed JPEGs larger than the model's 36 px: how their crop windows are decoded (trainlab.pipeline.data.streamed)
DECODINGS = {"DCT-scaled (default)": {}, "full scale": {"JPEG_SCALES": (1,)},
             "INTEGER_FAST": {"DCT_METHOD": "INTEGER_FAST"}}
CROP = [{"name": "random_resized_crop", "scale": [0.35, 1.0]}, {"name": "flip_horizontal", "p": 0.5}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 1])
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--streamed", action="store_true",
                        help="compare the default read from memory with the same run streamed from disk instead")
    parser.add_argument("--crop", action="store_true",
                        help="augment by random-resized crops (scale 0.35-1) and flips instead of the recipe")
    parser.add_argument("--jpeg", type=int, metavar="SIDE",
                        help="SIDE px JPEG photos streamed at 36 px: compare how their crop windows are decoded")
    args = parser.parse_args()
    settings = STREAMED if args.streamed else SETTINGS
    patches = dict.fromkeys(settings, {})
    if args.jpeg:
        settings = dict.fromkeys(DECODINGS, {"data.memory_budget": 0, "data.image_size": [36, 36]})
        patches = DECODINGS
    chain = {"augment": CROP} if args.crop else {}
    from tests.shapes import make_shapes_folder
    from trainlab.pipeline.config.loading import load_config
    from trainlab.pipeline.data import streamed
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.training.stage import train
    tmp = Path(tempfile.mkdtemp(prefix="small-data-"))
    folder = make_shapes_folder(tmp / "shapes", per_class=args.per_class, size=args.jpeg or 36,
                                jpeg=bool(args.jpeg))
    results = {name: [] for name in settings}
    for seed in args.seeds:  # settings interleaved within each seed
        for name, extra in settings.items():
            cfg = load_config(None, {"data.dataset": str(folder), "train.seed": seed, "data.cache_dir": str(tmp),
                                     "tracking.tracking_uri": f"sqlite:///{tmp}/mlflow.db", **chain, **extra})
            start = time.perf_counter()
            with mock.patch.multiple(streamed, **patches[name]) if patches[name] else nullcontext():
                result = train(resolve_plan(cfg), echo=lambda line: None)
            val, test = result.best_val_accuracy, result.test.accuracy
            results[name].append((val, test))
            print(f"seed {seed:>3}  {name:<17} validation {val:.4f}  test {test:.4f}  "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    for name, rows in results.items():
        for i, what in enumerate(("validation", "test")):
            values = [row[i] for row in rows]
            print(f"{name:<17} {what:<10} mean {statistics.mean(values):.4f} "
                  f"(range {min(values):.4f}-{max(values):.4f}, {len(values)} seeds)")


if __name__ == "__main__":
    main()
