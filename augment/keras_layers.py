"""Keras and keras-cv preprocessing layers as ops: ``{name: keras.RandomRotation, factor: 0.1}``.

Layers draw their own randomness (seeded through ``seed``), so they have no injectable parameters;
``p`` still gates them per image. RandAugment from keras core is registered as ``rand_augment``.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from .base import Augmentation, check_number
from .registry import register_op, register_prefix

KERAS_CV_HINT = "keras-cv is not installed: pip install 'trainlab[keras-cv]'"


def _layer_class(module: str, name: str):
    if module == "keras_cv":
        try:
            import keras_cv  # the keras-cv extra
        except ImportError:
            raise ValueError(KERAS_CV_HINT) from None
        layers = keras_cv.layers
    else:
        layers = keras.layers
    cls = getattr(layers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        raise ValueError(f"{module}.layers has no layer {name!r}")
    return cls


@register_prefix("keras")
@register_prefix("keras_cv")
class KerasLayer(Augmentation):
    """Any keras (or keras-cv) preprocessing layer, keras.<Layer> / keras_cv.<Layer>, with its arguments."""

    def __init__(self, name: str, p: float = 1.0, **arguments):
        super().__init__(p)
        module, _, layer_name = name.partition(".")
        self.name, self.arguments = name, arguments
        try:
            self._layer = _layer_class(module, layer_name)(**arguments)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name}: {e}") from None

    def config(self) -> dict:
        return {"name": self.name, "p": self.p, **self.arguments}

    def apply(self, images, params):
        return tf.cast(self._layer(images, training=True), images.dtype)


@register_op("rand_augment")
class RandAugment(KerasLayer):
    """keras core RandAugment: ``num_ops`` random ops of strength ``factor`` per image, on 0-255 pixels."""

    def __init__(self, num_ops: int = 2, factor: float = 0.5, p: float = 1.0, seed: int | None = None):
        check_number("num_ops", num_ops, 1, 14, integer=True)
        check_number("factor", factor, 0, 1)
        super().__init__("keras.RandAugment", p, value_range=(0, 255), num_ops=num_ops, factor=factor, seed=seed)
        self.name = "rand_augment"
