"""The exported SavedModels of one model name, loaded once, with their signatures described."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ..errors import TrackingError

DTYPE_NAMES = {tf.float32: "DT_FLOAT", tf.uint8: "DT_UINT8", tf.string: "DT_STRING", tf.int64: "DT_INT64"}


@dataclass
class TensorInfo:
    name: str
    dtype: tf.DType
    shape: list[int] | None  # None: unknown rank; -1: unknown dimension

    def as_json(self) -> dict:
        shape = {"unknown_rank": True} if self.shape is None else {
            "dim": [{"size": str(d), "name": ""} for d in self.shape], "unknown_rank": False}
        return {"dtype": DTYPE_NAMES.get(self.dtype, self.dtype.name), "tensor_shape": shape, "name": self.name}


class Signature:
    """One signature of a loaded SavedModel: its inputs and outputs, and a call on numpy arrays."""

    def __init__(self, function, image_shape: tuple[int, int, int] = (28, 28, 1)):
        self._fn = function
        self.image_shape = tuple(image_shape)  # (H, W, C) the pixel inputs must have
        specs = function.structured_input_signature[1]
        self.inputs = {k: TensorInfo(k, v.dtype, None if v.shape.rank is None else
                                     [-1 if d is None else d for d in v.shape.as_list()]) for k, v in specs.items()}
        self.outputs = {k: TensorInfo(k, v.dtype, [-1 if d is None else d for d in v.shape.as_list()])
                        for k, v in function.structured_outputs.items()}

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tensors = {k: tf.constant(v, dtype=self.inputs[k].dtype) for k, v in inputs.items()}
        return {k: v.numpy() for k, v in self._fn(**tensors).items()}

    def as_json(self) -> dict:
        return {"inputs": {k: v.as_json() for k, v in self.inputs.items()},
                "outputs": {k: v.as_json() for k, v in self.outputs.items()},
                "method_name": "tensorflow/serving/predict"}


class ModelVersion:
    def __init__(self, path: Path):
        self.path = path
        self._loaded = tf.saved_model.load(str(path))  # keep a reference: it owns the variables
        meta = path / "assets.extra" / "trainlab.json"
        self.metadata = json.loads(meta.read_text()) if meta.is_file() else {}
        # Exports written before images had any shape were MNIST's.
        self.image_shape = tuple(self.metadata.get("image_shape") or (28, 28, 1))
        self.signatures = {name: Signature(fn, self.image_shape) for name, fn in self._loaded.signatures.items()}
        classes = self.signatures["serving_default"].outputs["probabilities"].shape[-1]
        self.class_names = self.metadata.get("class_names") or [str(i) for i in range(classes)]


class ServedModel:
    """Every numeric version folder under ``<base>`` (TF Serving layout), or a single version folder."""

    def __init__(self, base: str | Path, name: str | None = None):
        base = Path(base)
        if (base / "saved_model.pb").is_file():
            folders = {base.name if base.name.isdigit() else "1": base}
            self.name = name or base.parent.name
        else:
            folders = {p.name: p for p in base.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()} \
                if base.is_dir() else {}
            self.name = name or base.name
        if not folders:
            raise TrackingError(f"no SavedModel under {base}: expected <version>/saved_model.pb "
                                "(run trainlab export)")
        self.versions = {v: ModelVersion(p) for v, p in folders.items()}
        self.latest = max(self.versions, key=int)

    def version(self, version: str | None = None) -> ModelVersion:
        return self.versions[version or self.latest]
