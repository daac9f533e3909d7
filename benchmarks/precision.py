"""Training step time in float32 and in mixed bf16, per model: what `train.precision: auto` buys.

    .venv/bin/python benchmarks/precision.py [--models cnn_keras cnn_deep cnn:16] [--rounds 10]
    .venv/bin/python benchmarks/precision.py --models keras_example cnn_keras   # the same network twice

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


def compiled(name: str, width: int | None, policy: str) -> keras.Model:
    with precision.policy(policy):
        if name == "keras_example":
            model = keras_example_network()
        else:
            model = create_model(name, input_shape=(28, 28, 1), num_classes=10, **({"width": width} if width else {}))
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnn_keras", "cnn_deep", "cnn:16"],
                        help="NAME or NAME:WIDTH")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((STEPS * BATCH, 28, 28, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, STEPS * BATCH), 10)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).cache()
    print(f"native bf16 on this machine: {precision.native_bf16()}; {os.cpu_count()} CPU cores; "
          f"median of {args.rounds} turns of {STEPS} steps, batch {BATCH}")
    print(f"{'ms/step: median (fastest turn)':<31} {'float32':>14} {'mixed bf16':>14} {'speed-up':>14}")
    models = {}
    for spec in args.models:
        name, _, width = spec.partition(":")
        for p in ("float32", "mixed_bfloat16"):
            models[spec, p] = compiled(name, int(width) if width else None, p)
    times = {key: [] for key in models}
    for model in models.values():
        model.fit(data, epochs=1, verbose=0, shuffle=False)  # trace and warm up
    for _ in range(args.rounds):
        for key, model in models.items():
            start = time.perf_counter()
            model.fit(data, epochs=1, verbose=0, shuffle=False)
            times[key].append((time.perf_counter() - start) / STEPS * 1000)
    for spec in args.models:
        (f32, f32_best), (bf16, bf16_best) = ((float(np.median(times[spec, p])), min(times[spec, p]))
                                              for p in ("float32", "mixed_bfloat16"))
        print(f"{spec:<31} {f32:>6.1f} ({f32_best:>5.1f}) {bf16:>6.1f} ({bf16_best:>5.1f}) "
              f"{f32 / bf16:>6.2f}x ({f32_best / bf16_best:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
