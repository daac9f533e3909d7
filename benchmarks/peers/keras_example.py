"""The official Keras "simple MNIST convnet" procedure, exactly as the example trains it:
inputs scaled to [0, 1], Adam, batch 128, validation_split 0.1, `fit` on numpy arrays.

    python benchmarks/peers/keras_example.py [--epochs 15] [--mixed-bf16] [--trainlab-input]

``--mixed-bf16``: the same procedure under Keras's ``mixed_bfloat16`` policy (the softmax layer kept in
float32, as the Keras mixed-precision guide does), to compare with trainlab's mixed-bf16 default.
``--trainlab-input``: the same network and `fit`, fed by trainlab's tf.data input (uint8 batches cast,
scaled and one-hot encoded in the pipeline; its stratified 6,000-image validation split) instead of numpy
arrays: what trainlab's input costs apart from the rest of its training stage.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from common import mnist, report  # noqa: E402
from timing import EpochTimer  # noqa: E402


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--mixed-bf16", action="store_true")
    parser.add_argument("--trainlab-input", action="store_true")
    args = parser.parse_args()
    if args.mixed_bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(1)
    model = build()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    if args.trainlab_input:
        train, val, test, images = trainlab_input()
        fit = dict(x=train, validation_data=val, shuffle=False)  # the pipeline shuffles
        evaluate = lambda: model.evaluate(test, verbose=0)[1]  # noqa: E731
    else:
        x_train, y_train, x_test, y_test = mnist()
        x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
        x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
        y_train, y_test = keras.utils.to_categorical(y_train, 10), keras.utils.to_categorical(y_test, 10)
        fit = dict(x=x_train, y=y_train, batch_size=128, validation_split=0.1)
        images = int(len(x_train) * 0.9)
        evaluate = lambda: model.evaluate(x_test, y_test, verbose=0)[1]  # noqa: E731
    timer = EpochTimer(evaluate)
    model.fit(**fit, epochs=args.epochs, verbose=0, callbacks=[timer])
    name = "keras example" + (" on trainlab input" if args.trainlab_input else "")
    report(name + (" mixed_bfloat16" if args.mixed_bf16 else " float32"), images, timer.seconds, timer.accuracy,
           phases=timer.phases)


def trainlab_input():
    """trainlab's training and validation datasets for this procedure (batch 128, inputs scaled to
    [0, 1], no augmentation), its test input and its number of training images."""
    from trainlab.pipeline.data.inputs import Normalizer, make_dataset
    from trainlab.pipeline.data.sources import load_dataset
    from trainlab.pipeline.data.splits import make_splits
    splits = make_splits(load_dataset("mnist"), 6000, seed=42)
    normalizer = Normalizer.fit("scale", splits.x_train)
    common = dict(num_classes=10, normalizer=normalizer)
    train = make_dataset(splits.x_train, splits.y_train, batch_size=128, training=True, seed=42, **common)
    val = make_dataset(splits.x_val, splits.y_val, batch_size=1000, **common)
    test = make_dataset(splits.x_test, splits.y_test, batch_size=1000, **common)
    return train, val, test, len(splits.y_train)


if __name__ == "__main__":
    main()
