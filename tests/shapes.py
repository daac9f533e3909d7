"""A generated folder of small colour photos: 4 shape classes at a random colour, size and position."""
from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("disc", "square", "triangle", "ring")


def shape_photo(label: int, size: int, rng) -> np.ndarray:
    """uint8 (size, size, 3): shape ``label`` in a random colour on a random dark background."""
    image = np.zeros((size, size, 3), np.uint8) + rng.integers(0, 60, 3).astype(np.uint8)
    image = np.clip(image + rng.integers(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
    radius = rng.uniform(0.18, 0.32) * size
    cy, cx = rng.uniform(radius + 1, size - radius - 1, 2)
    yy, xx = np.mgrid[:size, :size] + 0.5
    dy, dx = yy - cy, xx - cx
    inside = [dy ** 2 + dx ** 2 < radius ** 2,
              np.maximum(abs(dy), abs(dx)) < radius * 0.85,
              (dy < radius * 0.7) & (dy > -radius) & (abs(dx) < (dy + radius) * 0.6),
              (dy ** 2 + dx ** 2 < radius ** 2) & (dy ** 2 + dx ** 2 > (radius * 0.55) ** 2)][label]
    image[inside] = rng.integers(120, 256, 3).astype(np.uint8)
    return image


def make_shapes_folder(root: Path, per_class: int = 150, size: int = 36, seed: int = 0, jpeg: bool = False) -> Path:
    """``root/<class>/<i>.png`` for the 4 classes (``.jpg``, quality 90, with ``jpeg``)."""
    import tensorflow as tf
    rng = np.random.default_rng(seed)
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = shape_photo(label, size, rng)
            encoded = tf.io.encode_jpeg(image, quality=90) if jpeg else tf.io.encode_png(image)
            (root / name / f"{i:04d}.{'jpg' if jpeg else 'png'}").write_bytes(encoded.numpy())
    return root


def trained_shape_classifier(count: int = 1700, held_out: int = 100, size: int = 32, epochs: int = 10):
    """A ``cnn`` (width 16) trained on ``count - held_out`` generated shape photos behind a 1/255 rescaling, as
    a served model takes raw pixels; returns it with the held-out photos (float32) and their labels. The
    toy the Grad-CAM test and ``benchmarks/see_your_data.py`` look into (about 99% on the held-out ones)."""
    import keras

    from trainlab.models import create_model
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(CLASSES), count)
    images = np.stack([shape_photo(label, size, rng) for label in labels]).astype("float32")
    keras.utils.set_random_seed(0)
    network = create_model("cnn", input_shape=(size, size, 3), num_classes=len(CLASSES), width=16)
    network.compile("adam", "categorical_crossentropy")
    train = count - held_out
    network.fit(images[:train] / 255, np.eye(len(CLASSES))[labels[:train]], epochs=epochs, batch_size=32, verbose=0)
    inputs = keras.Input((size, size, 3), name="raw_image")
    served = keras.Model(inputs, network(keras.layers.Rescaling(1 / 255, name="normalize")(inputs)))
    return served, images[train:], labels[train:]
