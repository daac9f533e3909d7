"""Training step time in float32 and in mixed bf16, per model: what `train.precision: auto` buys.

    .venv/bin/python benchmarks/precision.py [--models cnn_keras cnn_deep cnn:16] [--rounds 10]
    .venv/bin/python benchmarks/precision.py --models keras_example cnn_keras   # the same network twice
    .venv/bin/python benchmarks/precision.py --models cnn_deep resnet:16 resnet:64:14 --precisions float32 --rounds 3
                                    # what a wide residual network (WRN-16-4's size: resnet, depth 14, width 64) costs

``keras_example`` is the official Keras example's network as its peer builds it (benchmarks/peers); beside
trainlab's ``cnn_keras`` (the same network, built by trainlab's factory) it shows what the way trainlab
builds it costs per step.

One process holds a float32 and a mixed-bf16 copy of each model and times all of them in turns (20 steps
of batch 128 each turn), so machine drift hits every copy alike. Prints the median ms/step, the fastest turn's
(this VM runs at one of two speeds, ~1.5x apart, and its slow one can take whole turns of every copy:
the fastest turn is what a copy does unslowed) and the speed-ups on both.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from trainlab.models import create_model  # noqa: E402
from trainlab.pipeline.runtime import dtype_policy as precision  # noqa: E402

STEPS, BATCH = 20, 128


def keras_example_network() -> keras.Model:
    """The network as the Keras example's peer builds it."""
    peers = str(Path(__file__).resolve().parent / "peers")
    if peers not in sys.path:
        sys.path.insert(0, peers)
    from keras_example import build
    return build()


def compiled(spec: str, policy: str) -> keras.Model:
    """The model ``spec`` names (NAME, NAME:WIDTH or NAME:WIDTH:DEPTH) under ``policy``, compiled."""
    name, *sizes = spec.split(":")
    options = dict(zip(("width", "depth"), map(int, sizes)))
    with precision.policy(policy):
        if name == "keras_example":
            model = keras_example_network()
        else:
            model = create_model(name, input_shape=(28, 28, 1), num_classes=10, **options)
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnn_keras", "cnn_deep", "cnn:16"],
                        help="NAME, NAME:WIDTH or NAME:WIDTH:DEPTH")
    parser.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"],
                        choices=["float32", "mixed_bfloat16"], help="float32 alone where bf16 is emulated and slow")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((STEPS * BATCH, 28, 28, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, STEPS * BATCH), 10)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).cache()
    print(f"native bf16 on this machine: {precision.native_bf16()}; {os.cpu_count()} CPU cores; "
          f"median of {args.rounds} turns of {STEPS} steps, batch {BATCH}")
    models = {(spec, p): compiled(spec, p) for spec in args.models for p in args.precisions}
    times = {key: [] for key in models}
    for model in models.values():
        model.fit(data, epochs=1, verbose=0, shuffle=False)  # trace and warm up
    for _ in range(args.rounds):
        for key, model in models.items():
            start = time.perf_counter()
            model.fit(data, epochs=1, verbose=0, shuffle=False)
            times[key].append((time.perf_counter() - start) / STEPS * 1000)
    labels = {"float32": "float32", "mixed_bfloat16": "mixed bf16"}
    both = len(args.precisions) == 2
    print(f"{'ms/step: median (fastest turn)':<31} " + " ".join(f"{labels[p]:>14}" for p in args.precisions)
          + (f" {'speed-up':>14}" if both else "") + "  s/epoch of 55,000 images (steps only)")
    for spec in args.models:
        medians = [float(np.median(times[spec, p])) for p in args.precisions]
        fastest = [min(times[spec, p]) for p in args.precisions]
        print(f"{spec:<31} " + " ".join(f"{m:>6.1f} ({f:>5.1f})" for m, f in zip(medians, fastest))
              + (f" {medians[0] / medians[1]:>6.2f}x ({fastest[0] / fastest[1]:.2f}x)" if both else "")
              + "  " + " ".join(f"{m * 55000 / BATCH / 1000:.0f}" for m in medians), flush=True)


if __name__ == "__main__":
    main()
