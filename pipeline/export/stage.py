"""Export a raw-pixel Keras model as a TensorFlow SavedModel in the TF Serving layout.

``<dir>/<name>/<version>/`` holds ``saved_model.pb`` and ``variables/``, with three signatures:
``serving_default`` (float32 pixels 0-255) and ``serving_uint8`` (uint8 pixels), both taking
(N, H, W, C) of the model's own shape (gray models also (N, H, W)) and checking it in-graph, and
``serving_b64`` taking encoded PNG/JPEG/GIF/BMP/WebP bytes (TF Serving's ``{"b64": ...}`` values) that it
decodes in-graph as training does (:mod:`..data.decode`: EXIF orientation, first frame, alpha dropped; a
header claiming over ``decode.MAX_IMAGE_PIXELS`` refused before decoding), fits to the model's size, then
channels. All return ``probabilities`` and ``classes``. A convolutional model also gets ``serving_explain``
(encoded images as ``serving_b64``): those and ``overlay_bytes``, a PNG of each image under its Grad-CAM map.
``assets.extra/trainlab.json`` carries the image shape, the class names and the normalization statistics;
``assets.extra/model_card.md`` the training run's model card.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from trainlab.augment.tta import with_tta
from trainlab.models import OptionError
from trainlab.models.gradcam import SIGNATURE as EXPLAIN
from trainlab.models.gradcam import GradCam, overlay

from .. import progress, tracking
from ..config.schema import Config
from ..data.decode import decode_batch_for_model
from ..data.inputs import load_splits
from ..errors import ConfigError, DataError, TrackingError, TrainlabError
from ..plan import Plan
from ..runtime import process as runtime
from ..trained import plan_of
from .formats import FORMATS, export_onnx, export_tflite, export_tflite_int8, target_of

METADATA = "assets.extra/trainlab.json"
CARD = "assets.extra/model_card.md"  # the training run's model card, when it has one


def _batch_of_images(images: tf.Tensor, height: int, width: int, channels: int) -> tf.Tensor:
    """(N, H, W, C) (or (N, H, W) when C is 1) -> float32 (N, H, W, C); anything else fails with
    InvalidArgumentError."""
    shape = tf.shape(images)
    rank = tf.rank(images)
    padded = tf.concat([shape, tf.zeros([4], tf.int32)], axis=0)  # safe to index whatever the rank
    ok = ((rank == 4) & (padded[3] == channels)) | ((rank == 3) & (channels == 1))
    ok = ok & (padded[1] == height) & (padded[2] == width)
    expected = f"(N, {height}, {width}, {channels})" + (f" or (N, {height}, {width})" if channels == 1 else "")
    check = tf.debugging.Assert(ok, [f"image must have shape {expected}; got", shape], name="check_image_shape")
    with tf.control_dependencies([check]):
        return tf.reshape(tf.cast(images, tf.float32), [-1, height, width, channels])


def export_saved_model(model: keras.Model, out_dir: str | os.PathLike, name: str, version: int,
                       metadata: dict | None = None, card: str | None = None) -> Path:
    """Write ``model`` to ``out_dir/name/version`` atomically and check its predictions.

    Raises:
        TrackingError: the version already exists, or the export disagrees with the Keras model.
    """
    _, height, width, channels = model.input_shape
    metadata = {"resize": "squash", **(metadata or {}), "image_shape": [height, width, channels]}
    resize = metadata["resize"]  # how an encoded image of another size or aspect is fitted, as in training
    target = Path(out_dir) / name / str(version)
    if target.exists():
        raise TrackingError(f"{target} already exists: export versions are never overwritten")
    target.parent.mkdir(parents=True, exist_ok=True)

    def serve(images):
        probabilities = model(_batch_of_images(images, height, width, channels), training=False)
        return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=-1)}

    def serve_encoded(image_bytes):
        return serve(decode_batch_for_model(image_bytes, (height, width), channels, resize))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[tf.TensorSpec(None, tf.float32, name="image")])
    archive.add_endpoint("serving_uint8", serve, input_signature=[tf.TensorSpec(None, tf.uint8, name="image")])
    archive.add_endpoint("serving_b64", serve_encoded,
                         input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    explain = explain_endpoint(model, (height, width), channels, resize)
    if explain is not None:
        archive.add_endpoint(EXPLAIN, explain, input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])

    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        archive.write_out(str(staging), verbose=False)
        (staging / METADATA).parent.mkdir(exist_ok=True)
        (staging / METADATA).write_text(json.dumps(metadata, indent=2))
        if card:
            (staging / CARD).write_text(card)
        check_export(staging, model)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def explain_endpoint(model: keras.Model, size: tuple[int, int], channels: int, resize: str):
    """The ``serving_explain`` endpoint: encoded images -> ``probabilities``, ``classes`` and ``overlay_bytes``
    (a PNG of the image as the model saw it under its Grad-CAM map, :mod:`trainlab.models.gradcam`); None for
    a model without a convolutional feature map (an MLP, a recurrent network)."""
    try:
        cam = GradCam(model)
    except OptionError:
        return None

    def explain(image_bytes):
        images = decode_batch_for_model(image_bytes, size, channels, resize)
        probabilities, maps = cam(images)
        pngs = tf.map_fn(tf.io.encode_png, overlay(images, maps), fn_output_signature=tf.string)
        return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=-1), "overlay_bytes": pngs}
    return explain


def check_export(path: Path, model: keras.Model, atol: float = 1e-5) -> None:
    """The SavedModel must predict what the Keras model predicts, on both signatures."""
    rng = np.random.default_rng(0)
    _, height, width, channels = model.input_shape
    images = rng.integers(0, 256, size=(8, height, width, channels), dtype=np.uint8)
    expected = np.asarray(model(images.astype(np.float32), training=False))
    loaded = tf.saved_model.load(str(path))
    got_float = loaded.signatures["serving_default"](image=tf.constant(images, tf.float32))["probabilities"]
    got_uint8 = loaded.signatures["serving_uint8"](image=tf.constant(images))["probabilities"]
    pngs = tf.stack([tf.io.encode_png(image) for image in images])
    got_png = loaded.signatures["serving_b64"](image_bytes=pngs)["probabilities"]
    explained = [loaded.signatures[EXPLAIN](image_bytes=pngs)["probabilities"]] if EXPLAIN in loaded.signatures else []
    for got in (got_float, got_uint8, got_png, *explained):
        if not np.allclose(got.numpy(), expected, atol=atol):
            raise TrackingError(f"exported model at {path} disagrees with the Keras model "
                                f"(max difference {np.abs(got.numpy() - expected).max():.2e})")


def next_version(out_dir: str | os.PathLike, name: str) -> int:
    """One more than the highest numeric version already exported under ``out_dir/name``."""
    folder = Path(out_dir) / name
    versions = [int(p.name) for p in folder.iterdir() if p.name.isascii() and p.name.isdigit()] \
        if folder.is_dir() else []
    return max(versions, default=0) + 1


def export(plan: Plan, uri: str, model: keras.Model | None = None, formats=(), opset: int | None = None,
           echo=lambda line: None) -> tuple[Path, bool]:
    """Export the model at ``uri`` (trained as ``plan`` says: its run's own plan, :func:`..trained.plan_of`) to
    ``export.dir``; returns ``(path, written)``.

    ``formats``: more files beside the SavedModel, each checked against the model on the plan's test images
    (:mod:`.formats`: tflite, tflite-int8, onnx with ``opset``); those already there are kept.
    ``model``: the Keras model behind the URI when the caller holds it already (the run that just
    became champion), so it is not loaded back from the store.

    A registry version is exported under its own version number, once: exporting it again finds
    the folder and leaves it as it is. Any other URI gets the next free version number.

    Under another Keras backend (JAX) the export runs in a TensorFlow-backend process: the SavedModel's
    signatures do their input checks and image decoding in TensorFlow.
    """
    cfg, formats = plan.config, _formats(formats)
    if keras.backend.backend() != "tensorflow":  # a JAX model in hand cannot be exported here
        return _export_in_tensorflow(plan, uri, formats, opset)
    tracking.configure(cfg.tracking)
    name = cfg.tracking.registered_model
    registry_version = tracking.version_of(uri, name)
    version = int(registry_version) if registry_version else next_version(cfg.export.dir, name)
    target = Path(cfg.export.dir) / name / str(version)
    exists = registry_version and (target / "saved_model.pb").is_file()
    todo = [f for f in formats if not (exists and target_of(target, f).is_file())]
    if exists and not todo:
        return target, False
    with progress.bar(f"export {name} v{version}", 1 + (not exists) + len(todo)) as advance:
        model = model or tracking.load_model(uri)
        if cfg.export.tta:  # the served probabilities are the views' average
            model = with_tta(model, cfg.evaluate.tta)
        advance(note="model loaded")
        if not exists:
            metadata = {**tracking.model_metadata(uri), **({"tta": cfg.evaluate.tta} if cfg.export.tta else {})}
            card = tracking.run_text(metadata["run_id"], tracking.CARD) if metadata.get("run_id") else None
            export_saved_model(model, cfg.export.dir, name, version, metadata=metadata, card=card)
            advance(note="SavedModel written and checked")
        if todo:
            data = check_data(cfg, model)
        for fmt in todo:
            written = _export_format(fmt, target, model, data, opset)
            advance(note=f"{fmt} written")
            echo(f"exported {fmt} to {written.path} ({written.check})")
    return target, True


def _formats(formats) -> tuple[str, ...]:
    """The formats beyond the SavedModel, once each, checked."""
    formats = tuple(f for f in dict.fromkeys(formats) if f != "savedmodel")
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ConfigError(f"unknown export format(s) {', '.join(sorted(unknown))}; known: {', '.join(FORMATS)}")
    return formats


def _export_format(fmt: str, target: Path, model: keras.Model, data: "CheckData", opset: int | None):
    if fmt == "tflite":
        return export_tflite(target, model, data.images[:32])
    if fmt == "onnx":
        return export_onnx(target, model, data.images, opset)
    if data.representative is None:
        raise DataError(f"int8 quantization needs representative training images of the model's shape "
                        f"{model.input_shape[1:]}; {data.source}")
    return export_tflite_int8(target, model, data.representative, data.images, data.labels)


@dataclass
class CheckData:
    """What exports are checked on: test images (uint8, N x H x W x C), their labels, and training images
    for int8 calibration; random pixels (no labels, no representative set) when the configured data
    does not fit the model."""

    images: np.ndarray
    labels: np.ndarray | None
    representative: np.ndarray | None
    source: str


def check_data(cfg, model: keras.Model, n: int = 1000, representative: int = 300) -> CheckData:
    shape = tuple(model.input_shape[1:])
    try:
        ds, splits = load_splits(cfg)
    except DataError as e:
        ds, splits, reason = None, None, str(e)
    if splits is not None and splits.x_test.shape[1:] == shape:
        pick = np.random.default_rng(0).permutation(len(splits.x_train))[:representative]
        return CheckData(splits.x_test[:n], splits.y_test[:n], splits.x_train[pick], f"{ds.name} test images")
    if splits is not None:
        reason = f"the configured data ({ds.name}) has images of shape {splits.x_test.shape[1:]}"
    images = np.random.default_rng(1).integers(0, 256, (64, *shape)).astype(np.uint8)
    return CheckData(images, None, None, reason)


def export_champion(cfg: Config, formats=(), opset: int | None = None, echo=lambda line: None) -> tuple[Path, bool]:
    """:func:`export` of ``cfg``'s registered model's champion, with the plan of the run that trained it."""
    formats = _formats(formats)
    tracking.configure(cfg.tracking)
    uri = tracking.champion_uri(cfg.tracking.registered_model)
    return export(plan_of(uri, cfg), uri, formats=formats, opset=opset, echo=echo)


def champion_export(cfg: Config) -> Path:
    """``<export dir>/<registered model>``, with the champion's version exported if it was not yet."""
    path, _ = export_champion(cfg)
    return path.parent


def _export_in_tensorflow(plan: Plan, uri: str, formats: tuple, opset: int | None) -> tuple[Path, bool]:
    task = json.dumps({"plan": plan.as_dict(), "uri": uri, "formats": formats, "opset": opset}, default=str)
    done = subprocess.run([sys.executable, "-m", "trainlab.pipeline.export.stage", task], capture_output=True,
                          text=True, env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise TrackingError(f"export (TensorFlow backend) failed: {lines[-1] if lines else done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Path(result["path"]), result["written"]


def _main(argv: list[str]) -> int:
    """``python -m trainlab.pipeline.export.stage TASK``: export in this process, the result as one JSON line."""
    task = json.loads(argv[0])
    runtime.setup()
    try:
        path, written = export(Plan.from_dict(task["plan"]), task["uri"], formats=task["formats"],
                               opset=task["opset"])
    except TrainlabError as e:
        print(e, file=sys.stderr)
        return 2
    print(json.dumps({"path": str(path), "written": written}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
