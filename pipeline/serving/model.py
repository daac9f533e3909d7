"""The exported SavedModels of one model name, loaded once, with their signatures described."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ..errors import TrackingError, one_line

EXPLAIN = "serving_explain"  # the Grad-CAM signature of a convolutional model's export (export/stage.py)
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

    def warm_up(self) -> None:
        """One call of every signature (an encoded one with a PNG), so the first request does not pay for graph
        set-up: the decoding signature's first calls took seconds each when 32 clients made them at once."""
        for signature in self.signatures.values():
            key, info = next(iter(signature.inputs.items()))
            if info.dtype == tf.string:
                png = tf.io.encode_png(np.zeros(self.image_shape, np.uint8)).numpy()
                signature({key: np.array([png], dtype=object)})
            else:
                signature({key: np.zeros((1, *self.image_shape), info.dtype.as_numpy_dtype)})


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions under a base path are served, as TF Serving's ``model_version_policy``:
    ``all``, ``latest:N`` (the N highest) or ``specific:1,3``."""

    kind: str = "all"
    numbers: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        kind, _, rest = str(text).strip().partition(":")
        try:
            numbers = tuple(int(n) for n in rest.split(",") if n.strip())
        except ValueError:
            numbers = ()
        if kind == "all" and not rest:
            return cls("all")
        if kind == "latest" and len(numbers) == 1 and numbers[0] >= 1:
            return cls("latest", numbers)
        if kind == "specific" and numbers:
            return cls("specific", numbers)
        raise TrackingError(f"version policy {text!r}: expected all, latest:N (N >= 1) or specific:V1,V2,...")

    def select(self, versions: list[str]) -> list[str]:
        ordered = sorted(versions, key=int)
        if self.kind == "latest":
            return ordered[-self.numbers[0]:]
        if self.kind == "specific":
            return [v for v in ordered if int(v) in self.numbers]
        return ordered

    def __str__(self) -> str:
        return self.kind + (":" + ",".join(map(str, self.numbers)) if self.numbers else "")


def version_folders(base: Path) -> dict[str, Path]:
    """The numeric version folders holding a complete SavedModel under ``base`` (TF Serving's layout)."""
    if not base.is_dir():
        return {}
    return {p.name: p for p in base.iterdir() if is_version(p.name) and (p / "saved_model.pb").is_file()}


def is_version(name: str) -> bool:
    """TF Serving's rule for a version folder: ASCII digits only (``"²".isdigit()`` is true, ``int("²")`` fails)."""
    return name.isascii() and name.isdigit()


class ServedModel:
    """The versions of one model name: every numeric version folder under ``<base>`` that ``policy``
    keeps (TF Serving layout), or a single version folder. :meth:`refresh` loads versions that appeared
    and drops those that went; ``labels`` map names such as ``champion`` or ``stable`` to versions.

    ``versions`` and ``labels`` are replaced together, never changed in place (:meth:`snapshot`), so a
    request that picked a version keeps a working one while a refresh runs in another thread."""

    def __init__(self, base: str | Path, name: str | None = None, policy: VersionPolicy = VersionPolicy(),
                 labels: dict[str, str] | None = None):
        base = Path(base)
        self.single = (base / "saved_model.pb").is_file()
        self.base, self.policy = base, policy
        self.name = name or (base.parent.name if self.single else base.name)
        self.fixed_labels = {str(k): str(v) for k, v in (labels or {}).items()}
        self._state: tuple[dict[str, ModelVersion], dict[str, str]] = ({}, {})
        self.failures: dict[str, str] = {}      # versions that did not load at the last refresh, and why
        self.new_failures: dict[str, str] = {}  # those not reported before
        self.refresh()
        if not self.versions:
            raise TrackingError(f"no SavedModel under {base}: expected <version>/saved_model.pb "
                                "(run trainlab export)" + ("" if not version_folders(base) else
                                                           f" among the versions policy {policy} keeps"))

    @property
    def versions(self) -> dict[str, ModelVersion]:
        return self._state[0]

    @property
    def labels(self) -> dict[str, str]:
        return self._state[1]

    def snapshot(self) -> tuple[dict[str, ModelVersion], dict[str, str]]:
        """The loaded versions and the labels, as one consistent pair."""
        return self._state

    @property
    def latest(self) -> str:
        return max(self.versions, key=int)

    def wanted(self) -> dict[str, Path]:
        if self.single:
            return {self.base.name if is_version(self.base.name) else "1": self.base}
        found = version_folders(self.base)
        return {v: found[v] for v in self.policy.select(list(found))}

    def refresh(self, champion: str | None = None) -> tuple[list[str], list[str]]:
        """Load (and warm up) the wanted versions not loaded yet, then switch to them at once; returns
        ``(added, removed)``. A version that fails to load is left out (the others keep serving).
        ``champion``: the registry's champion version, when the caller read it from the store."""
        wanted = self.wanted()
        current = self.versions
        added, failed = {}, {}
        for version in sorted(set(wanted) - set(current), key=int):
            try:
                loaded = ModelVersion(wanted[version])
                loaded.warm_up()
            except Exception as e:  # noqa: BLE001 - a broken folder: retried at the next poll, reported once
                failed[version] = one_line(e)
                continue
            added[version] = loaded
        self.new_failures = {v: m for v, m in failed.items() if self.failures.get(v) != m}
        self.failures = failed
        versions = {v: m for v, m in current.items() if v in wanted} | added
        removed = sorted(set(current) - set(versions), key=int)
        if not versions:  # every folder went: keep serving what is loaded rather than nothing
            versions, removed = current, []
        self._state = (versions, self._labels(versions, champion))
        return sorted(added, key=int), removed

    def _labels(self, versions: dict[str, ModelVersion], champion: str | None) -> dict[str, str]:
        labels = {k: v for k, v in self.fixed_labels.items() if v in versions}
        if champion is None:  # the newest loaded export of the champion alias
            champion = next((v for v in sorted(versions, key=int, reverse=True)
                             if versions[v].metadata.get("source_uri", "").endswith("@champion")), None)
        if champion in versions and "champion" not in self.fixed_labels:
            labels["champion"] = champion
        return labels

    def version(self, version: str | None = None) -> ModelVersion:
        return self.versions[version or self.latest]
