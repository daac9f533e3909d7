"""Exports beside the SavedModel, each checked against the model before it is written.

``<version>.tflite``       float32 TFLite (pixels 0-255 in, probabilities out)
``<version>.int8.tflite``  post-training full-integer quantization (int8 weights and activations, uint8
                           pixels in, float32 probabilities out), calibrated on a representative set
                           drawn from the training split
``<version>.onnx``         ONNX through Keras's own exporter (tf2onnx underneath), run by onnxruntime

Every file is written to a temporary name and renamed, so a failed check leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ..config.schema import EXPORT_FORMATS
from ..errors import TrackingError

FORMATS = EXPORT_FORMATS
SUFFIX = {"tflite": ".tflite", "tflite-int8": ".int8.tflite", "onnx": ".onnx"}


@dataclass
class Written:
    path: Path
    check: str      # what was compared, in words


def target_of(saved_model_dir: Path, fmt: str) -> Path:
    return saved_model_dir.parent / f"{saved_model_dir.name}{SUFFIX[fmt]}"


def _replace(target: Path, data: bytes) -> None:
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


@contextlib.contextmanager
def quiet():
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # converters' and tf.lite.Interpreter's notices
        yield


def tflite_predict(flatbuffer_or_path, images: np.ndarray) -> np.ndarray:
    """Probabilities of a TFLite model for (N, H, W, C) images, one at a time (the input is resized to 1)."""
    with quiet():
        source = {"model_path": str(flatbuffer_or_path)} if isinstance(flatbuffer_or_path, (str, Path)) else \
            {"model_content": flatbuffer_or_path}
        interpreter = tf.lite.Interpreter(**source)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.resize_tensor_input(inp["index"], [1, *images.shape[1:]])
    interpreter.allocate_tensors()
    found = []
    for image in images:
        interpreter.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
        interpreter.invoke()
        found.append(interpreter.get_tensor(out["index"])[0])
    return np.asarray(found, np.float32)


def export_tflite(saved_model_dir: Path, model: keras.Model, images: np.ndarray, atol: float = 1e-4) -> Written:
    """Float32 TFLite: probabilities within ``atol`` of the Keras model's on ``images``."""
    with quiet():
        flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    worst = float(np.abs(tflite_predict(flatbuffer, images) - _predict(model, images)).max())
    if worst > atol:
        raise TrackingError(f"TFLite model disagrees with the SavedModel (max difference {worst:.2e})")
    target = target_of(saved_model_dir, "tflite")
    _replace(target, flatbuffer)
    return Written(target, f"max |difference| {worst:.1e} on {len(images)} images")


def export_tflite_int8(saved_model_dir: Path, model: keras.Model, representative: np.ndarray,
                       images: np.ndarray, labels: np.ndarray | None = None) -> Written:
    """Full-integer TFLite: every op in int8, calibrated on ``representative`` (uint8 training images);
    its accuracy on ``images`` is reported beside the float model's when ``labels`` are given."""
    def samples():
        for image in representative:
            yield [image[None].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8     # pixels are uint8 already: the input needs no scale
    converter.inference_output_type = tf.float32
    with quiet():
        flatbuffer = converter.convert()
    got, expected = tflite_predict(flatbuffer, images.astype(np.uint8)), _predict(model, images)
    agree = float(np.mean(got.argmax(1) == expected.argmax(1)))
    check = f"same class as float on {agree:.1%} of {len(images)} images"
    if labels is not None:
        check += (f"; accuracy {np.mean(got.argmax(1) == labels):.2%} (float "
                  f"{np.mean(expected.argmax(1) == labels):.2%})")
    target = target_of(saved_model_dir, "tflite-int8")
    _replace(target, flatbuffer)
    return Written(target, check)


def onnx_predict(path: Path, images: np.ndarray) -> np.ndarray:
    import onnxruntime  # the onnx extra
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: images[i:i + 256].astype(np.float32)})[0]
                           for i in range(0, len(images), 256)])


def export_onnx(saved_model_dir: Path, model: keras.Model, images: np.ndarray, opset: int | None = None,
                atol: float = 1e-4) -> Written:
    """ONNX via ``model.export(format="onnx")``: probabilities within ``atol`` of the Keras model's
    on ``images`` in onnxruntime. Needs the onnx extra (tf2onnx, onnxruntime)."""
    try:
        import onnxruntime  # noqa: F401  (both are needed; fail before converting anything)
        import tf2onnx  # noqa: F401
    except ImportError:
        raise TrackingError("ONNX export needs tf2onnx and onnxruntime: pip install -e '.[onnx]'") from None
    target = target_of(saved_model_dir, "onnx")
    tmp = target.with_name(target.name + ".tmp")
    _predict(model, images[:1])   # Keras exports only a model that has been called
    with quiet():
        model.export(str(tmp), format="onnx", verbose=False, **({"opset_version": opset} if opset else {}))
    try:
        worst = float(np.abs(onnx_predict(tmp, images) - _predict(model, images)).max())
        if worst > atol:
            raise TrackingError(f"ONNX model disagrees with the SavedModel (max difference {worst:.2e})")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    return Written(target, f"max |difference| {worst:.1e} on {len(images)} images (onnxruntime)")


def _predict(model: keras.Model, images: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(images.astype(np.float32), batch_size=256, verbose=0), np.float32)
