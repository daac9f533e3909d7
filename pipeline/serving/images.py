"""Image files to model inputs: decode any PNG/JPEG/GIF/BMP to the model's channels (gray or RGB),
resize to its size, and, for gray models, invert drawings made dark-on-white (MNIST digits are white
on black)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ..data.resize import fit_image
from .model import ModelVersion


class ImageError(Exception):
    """A file that cannot be used as an image."""


def load_image(path: Path, size: tuple[int, int] = (28, 28), channels: int = 1, resize: str = "squash") -> np.ndarray:
    """uint8 (H, W, C) of ``path``, converted to ``channels`` and fitted to ``size`` by ``resize`` (as the
    model's training data was: squash | pad | center_crop)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageError(f"cannot read: {e.strerror or e}") from None
    try:
        image = tf.io.decode_image(data, channels=channels, expand_animations=False, dtype=tf.uint8)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        raise ImageError("not a readable PNG, JPEG, GIF or BMP image") from None
    if tuple(image.shape[:2]) != size:
        image = fit_image(tf.cast(image, tf.float32), size, resize)
    return np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8)


def looks_inverted(image: np.ndarray) -> bool:
    """A light background (the border averages above mid-grey) means dark strokes on white."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return float(border.mean()) > 127


@dataclass
class Prediction:
    file: str
    label: str | None = None
    probability: float | None = None
    inverted: bool = False
    error: str | None = None


def expand(paths: list[Path]) -> list[Path]:
    """Files as given, folders as their (non-hidden) files in name order."""
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        else:
            files.append(path)
    return files


def predict_files(paths: list[Path], model: ModelVersion, invert: bool | None = None,
                  batch_size: int = 256) -> list[Prediction]:
    """Predict every readable file; unreadable ones get an error instead of stopping the rest.

    ``invert``: None detects dark-on-white drawings for gray models (never for color ones).
    """
    results, images = [], []
    height, width, channels = model.image_shape
    for path in expand(paths):
        try:
            image = load_image(path, (height, width), channels, model.metadata.get("resize", "squash"))
        except ImageError as e:
            results.append(Prediction(str(path), error=str(e)))
            continue
        flip = (channels == 1 and looks_inverted(image)) if invert is None else invert
        images.append((len(results), 255 - image if flip else image))
        results.append(Prediction(str(path), inverted=flip))
    signature = model.signatures["serving_default"]
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        out = signature({"image": np.stack([im for _, im in chunk]).astype(np.float32)})
        for (i, _), probs in zip(chunk, out["probabilities"]):
            best = int(np.argmax(probs))
            results[i].label, results[i].probability = model.class_names[best], float(probs[best])
    return results
