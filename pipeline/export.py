"""Export a raw-pixel Keras model as a TensorFlow SavedModel in the TF Serving layout.

``<dir>/<name>/<version>/`` holds ``saved_model.pb`` and ``variables/``, with two signatures:
``serving_default`` (float32 pixels 0-255) and ``serving_uint8`` (uint8 pixels). Both accept
(N, H, W) or (N, H, W, 1), check the shape in-graph and return ``probabilities`` and ``classes``.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pipeline.errors import TrackingError

METADATA = "assets.extra/trainlab.json"


def _batch_of_images(images: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """(N, H, W) or (N, H, W, 1) -> float32 (N, H, W, 1); anything else fails with InvalidArgumentError."""
    shape = tf.shape(images)
    rank = tf.rank(images)
    padded = tf.concat([shape, tf.zeros([4], tf.int32)], axis=0)  # safe to index whatever the rank
    ok = ((rank == 3) | ((rank == 4) & (padded[3] == 1))) & (padded[1] == height) & (padded[2] == width)
    check = tf.debugging.Assert(ok, [f"image must have shape (N, {height}, {width}) or (N, {height}, {width}, 1); "
                                     "got", shape], name="check_image_shape")
    with tf.control_dependencies([check]):
        return tf.reshape(tf.cast(images, tf.float32), [-1, height, width, 1])


def export_saved_model(model: keras.Model, out_dir: str | os.PathLike, name: str, version: int,
                       metadata: dict | None = None) -> Path:
    """Write ``model`` to ``out_dir/name/version`` atomically and check its predictions.

    Raises:
        TrackingError: the version already exists, or the export disagrees with the Keras model.
    """
    _, height, width, channels = model.input_shape
    if channels != 1:
        raise TrackingError(f"export supports 1-channel models, this one has {channels} channels")
    target = Path(out_dir) / name / str(version)
    if target.exists():
        raise TrackingError(f"{target} already exists: export versions are never overwritten")
    target.parent.mkdir(parents=True, exist_ok=True)

    def serve(images):
        probabilities = model(_batch_of_images(images, height, width), training=False)
        return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=-1)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[tf.TensorSpec(None, tf.float32, name="image")])
    archive.add_endpoint("serving_uint8", serve, input_signature=[tf.TensorSpec(None, tf.uint8, name="image")])

    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        archive.write_out(str(staging), verbose=False)
        (staging / METADATA).parent.mkdir(exist_ok=True)
        (staging / METADATA).write_text(json.dumps(metadata or {}, indent=2))
        check_export(staging, model)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def check_export(path: Path, model: keras.Model, atol: float = 1e-5) -> None:
    """The SavedModel must predict what the Keras model predicts, on both signatures."""
    rng = np.random.default_rng(0)
    _, height, width, _ = model.input_shape
    images = rng.integers(0, 256, size=(8, height, width), dtype=np.uint8)
    expected = np.asarray(model(images[..., None].astype(np.float32), training=False))
    loaded = tf.saved_model.load(str(path))
    got_float = loaded.signatures["serving_default"](image=tf.constant(images, tf.float32))["probabilities"]
    got_uint8 = loaded.signatures["serving_uint8"](image=tf.constant(images[..., None]))["probabilities"]
    for got in (got_float, got_uint8):
        if not np.allclose(got.numpy(), expected, atol=atol):
            raise TrackingError(f"exported model at {path} disagrees with the Keras model "
                                f"(max difference {np.abs(got.numpy() - expected).max():.2e})")


def next_version(out_dir: str | os.PathLike, name: str) -> int:
    """One more than the highest numeric version already exported under ``out_dir/name``."""
    folder = Path(out_dir) / name
    versions = [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []
    return max(versions, default=0) + 1


def export_model(cfg, model_uri: str | None = None) -> tuple[Path, bool]:
    """Export the champion (or ``model_uri``) per ``cfg``; returns ``(path, written)``.

    A registry version is exported under its own version number, once: exporting it again finds
    the folder and leaves it as it is. Any other URI gets the next free version number.
    """
    from pipeline import tracking  # export sits after tracking in the flow
    tracking.configure(cfg.tracking)
    name = cfg.tracking.registered_model
    uri = model_uri or tracking.champion_uri(name)
    registry_version = tracking.version_of(uri, name)
    version = int(registry_version) if registry_version else next_version(cfg.export.dir, name)
    target = Path(cfg.export.dir) / name / str(version)
    if registry_version and (target / "saved_model.pb").is_file():
        return target, False
    model = tracking.load_model(uri)
    return export_saved_model(model, cfg.export.dir, name, version, metadata=tracking.model_metadata(uri)), True
