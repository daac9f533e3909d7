"""trainlab's training stage and the Keras example's own `fit`, taking turns in one process: the same
network and procedure (`cnn_keras`, Adam at 0.001, batch 128, 54,000 training images) in float32 and in
mixed bf16.

    .venv/bin/python benchmarks/same_process.py [--turns 5] [--epochs 3]

`benchmarks/throughput.py` runs every procedure in its own process, as a user would; this VM then gives
each process its own luck (its speed comes in spells, ~1.5x apart). Here both procedures share one
process, its memory and its spells, turn by turn: what is left between them is what trainlab's stage
(tf.data input, callbacks, MLflow tracking, checkpoints) costs over a bare `fit` on numpy arrays. Prints
the training steps' images/s of every epoch after the first (tracing excluded) per procedure: the median
over all turns and the fastest epoch, and the ratios (target, issue #19: trainlab >= 1.0x in both
precisions).
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

import keras  # noqa: E402
import keras_example  # noqa: E402
import numpy as np  # noqa: E402
from common import mnist  # noqa: E402
from timing import EpochTimer  # noqa: E402
from trainlab_run import SAME_AS_KERAS_EXAMPLE  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16")


def trainlab_fit(precision: str, epochs: int, store: str) -> list[float]:
    """trainlab's training stage; the seconds of each epoch's training steps."""
    from trainlab.pipeline.config.loading import load_config
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.training.stage import train
    cfg = load_config(None, {**SAME_AS_KERAS_EXAMPLE, "tracking.tracking_uri": f"sqlite:///{store}/mlflow.db",
                             "train.epochs": epochs, "train.precision": precision})
    timer = EpochTimer(lambda: 0.0)
    train(resolve_plan(cfg), echo=lambda _: None, callbacks=[timer])
    return timer.phases["train"]


def keras_fit(precision: str, epochs: int, x: np.ndarray, y: np.ndarray) -> list[float]:
    """The Keras example's `fit`, as its peer runs it."""
    keras.mixed_precision.set_global_policy(precision)
    try:
        keras.utils.set_random_seed(1)
        model = keras_example.build()
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        timer = EpochTimer(lambda: 0.0)
        model.fit(x, y, batch_size=128, validation_split=0.1, epochs=epochs, verbose=0, callbacks=[timer])
        return timer.phases["train"]
    finally:
        keras.mixed_precision.set_global_policy("float32")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3, help="per run; the first epoch of each is not counted")
    args = parser.parse_args()
    from trainlab.pipeline.runtime.process import setup
    setup()  # as the trainlab command starts: MLflow's store messages held back
    x_train, y_train, _, _ = mnist()
    x = np.expand_dims(x_train.astype("float32") / 255, -1)
    y = keras.utils.to_categorical(y_train, 10)
    images = int(len(x) * 0.9)  # both train on 54,000 images and validate on 6,000
    store = tempfile.mkdtemp(prefix="trainlab-bench-")
    procedures = {(who, p): fit for p in PRECISIONS for who, fit in (
        ("trainlab", lambda p: trainlab_fit(p, args.epochs, store)),
        ("keras example", lambda p: keras_fit(p, args.epochs, x, y)))}
    speeds = {key: [] for key in procedures}
    for turn in range(args.turns):
        for (who, precision), fit in procedures.items():
            seconds = fit(precision)[1:]
            speeds[who, precision] += [images / s for s in seconds]
            print(f"  turn {turn + 1} {who} {precision}: " + ", ".join(f"{s:.2f}s" for s in seconds), flush=True)
    print(f"cnn_keras on MNIST in one process, {args.turns} turns of {args.epochs} epochs, {os.cpu_count()} CPU cores, "
          f"{datetime.date.today()}; training steps' images/s, epochs after each run's first")
    print(f"{'procedure':<32} {'median epoch':>13} {'fastest epoch':>14}")
    for (who, precision), s in speeds.items():
        print(f"{who + ' ' + precision:<32} {statistics.median(s):>13,.0f} {max(s):>14,.0f}")
    for p in PRECISIONS:
        ours, theirs = speeds["trainlab", p], speeds["keras example", p]
        print(f"trainlab / Keras example, both {p}: {statistics.median(ours) / statistics.median(theirs):.2f}x "
              f"median epochs, {max(ours) / max(theirs):.2f}x fastest epochs (target >= 1.0x)")


if __name__ == "__main__":
    main()
