"""Numeric precision of training: float32, or mixed bfloat16 (bf16 compute, float32 variables).

``train.precision: auto`` picks ``mixed_bfloat16`` under TensorFlow where the hardware computes bf16
natively (a CPU with AVX512-BF16 or AMX, or a GPU of compute capability 8.0 or newer) and float32
elsewhere: where bf16 is emulated it is slower, and under JAX it was not measured. On this project's
2-core AMD EPYC (AVX512-BF16), oneDNN takes 1.3-1.6x less time per step for ``cnn_deep`` and about
1.5x for ``cnn_keras`` in mixed bf16, while small models such as ``cnn`` width 16 get slower
(benchmarks/precision.py). The output layer computes in float32 either way, and the served model is
always rebuilt in float32 (:func:`float32_config`).
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import keras
import tensorflow as tf

_BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this machine computes bf16 natively (``cpuinfo``: /proc/cpuinfo's text, for tests)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    if keras.backend.backend() != "tensorflow":
        return False  # measured with TensorFlow's oneDNN kernels only; JAX's CPU bf16 is not
    flags = {flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split()}
    if flags & _BF16_CPU_FLAGS:
        return True
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        if tuple(capability) >= (8, 0):
            return True
    return False


def resolve(precision: str) -> str:
    """The Keras dtype policy name for ``train.precision``."""
    if precision == "auto":
        return "mixed_bfloat16" if native_bf16() else "float32"
    return precision


@contextlib.contextmanager
def policy(name: str):
    """Layers created inside take dtype policy ``name``; the previous global policy comes back after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_config(config: dict) -> dict:
    """A model config whose every layer computes in float32 (nested models included): the trained
    weights are float32 already, so the served model keeps them and drops bf16 compute."""
    config = dict(config)
    if "dtype" in config and not isinstance(config.get("layers"), list):
        config["dtype"] = "float32"
    if isinstance(config.get("layers"), list):
        config["layers"] = [{**layer, "config": float32_config(layer["config"])} for layer in config["layers"]]
    return config
