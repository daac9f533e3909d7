"""The official Keras "simple MNIST convnet" procedure, exactly as the example trains it:
inputs scaled to [0, 1], Adam, batch 128, validation_split 0.1, `fit` on numpy arrays.

    python benchmarks/peers/keras_example.py [--epochs 15] [--mixed-bf16]

``--mixed-bf16``: the same procedure under Keras's ``mixed_bfloat16`` policy (the softmax layer kept in
float32, as the Keras mixed-precision guide does), to compare with trainlab's mixed-bf16 default.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from common import mnist, report  # noqa: E402


def build() -> keras.Model:
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax", dtype="float32"),
    ])


class TimedTest(keras.callbacks.Callback):
    """Epoch training time (fit's own validation included, as the example runs it); then test
    accuracy, measured outside that time."""

    def __init__(self, x_test, y_test):
        super().__init__()
        self.x_test, self.y_test, self.seconds, self.accuracy = x_test, y_test, [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)
        self.accuracy.append(float(self.model.evaluate(self.x_test, self.y_test, verbose=0)[1]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--mixed-bf16", action="store_true")
    args = parser.parse_args()
    if args.mixed_bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x_train, y_train, x_test, y_test = mnist()
    x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
    x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
    y_train, y_test = keras.utils.to_categorical(y_train, 10), keras.utils.to_categorical(y_test, 10)
    keras.utils.set_random_seed(1)
    model = build()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    timer = TimedTest(x_test, y_test)
    model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, validation_split=0.1, verbose=0,
              callbacks=[timer])
    report("keras example" + (" mixed_bfloat16" if args.mixed_bf16 else " float32"), int(len(x_train) * 0.9), timer.seconds, timer.accuracy)


if __name__ == "__main__":
    main()
