"""The probe registry, what probes measure on, and the callbacks that run a measurement at either end of
training."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from trainlab.models import Maxout
from trainlab.models.layers import ChannelMaxout

from ...config.schema import Config

PROBES: dict[str, Callable[..., keras.callbacks.Callback]] = {}


def register_probe(fn):
    if fn.__name__ in PROBES:
        raise ValueError(f"probe {fn.__name__!r} is already registered")
    PROBES[fn.__name__] = fn
    return fn


@dataclass
class ProbeData:
    """What probes measure on: normalized training images and their labels (a fixed sample)."""

    cfg: Config
    x: np.ndarray          # float32, normalized as the model sees it
    y: np.ndarray          # int labels
    num_classes: int
    x_val: np.ndarray | None = None    # validation images, normalized, and their labels
    y_val: np.ndarray | None = None

    def batch(self, n: int = 512) -> tuple[np.ndarray, np.ndarray]:
        return self.x[:n], self.y[:n]


def make_probes(specs, data: ProbeData) -> list[keras.callbacks.Callback]:
    """Callbacks for ``[{"name": ..., **params}, ...]``; an unknown name lists the known ones."""
    callbacks = []
    for spec in specs:
        spec = dict(spec)
        name = spec.pop("name", None)
        if name not in PROBES:
            raise KeyError(f"unknown probe {name!r}; known probes: {', '.join(sorted(PROBES))}")
        callbacks.append(PROBES[name](data, **spec))
    return callbacks


def hidden_activations(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers whose outputs are hidden units: activations, leaky ReLUs and maxouts (not the head)."""
    kinds = (keras.layers.Activation, keras.layers.LeakyReLU, Maxout, ChannelMaxout)
    return [layer for layer in model.layers if isinstance(layer, kinds)]


def hidden_outputs(model: keras.Model, x: np.ndarray) -> list[np.ndarray]:
    layers = hidden_activations(model)
    if not layers:
        return []
    probe = keras.Model(model.input, [layer.output for layer in layers])
    outputs = probe(x, training=False)
    return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def cross_entropy(probabilities, labels) -> tf.Tensor:
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities))


class OnBegin(keras.callbacks.Callback):
    def __init__(self, measure):
        super().__init__()
        self.measure = measure

    def on_train_begin(self, logs=None):
        self.measure(self.model)


class OnEnd(OnBegin):
    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        self.measure(self.model)


class AtBothEnds(OnBegin):
    """Measures before the first step (metric names ending ``_init``) and after training."""

    def on_train_begin(self, logs=None):
        self.measure(self.model, "_init")

    def on_train_end(self, logs=None):
        self.measure(self.model, "")
