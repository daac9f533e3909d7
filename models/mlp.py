"""Dense (MLP) family: flatten the image, then ``depth`` fully connected layers of ``width`` units."""
from __future__ import annotations

import keras

from models.common import (activation_layer, check_choice, check_positive, check_range,
                           classifier_head, image_input, make_initializer, ACTIVATIONS)
from models.registry import register_model


def _create_mlp(name: str, *, input_shape=(28, 28, 1), num_classes: int = 10, width: int = 256,
                depth: int = 2, activation: str = "relu", initializer_name: str = "he_normal",
                dropout: float = 0.0) -> keras.Model:
    check_positive("width", width)
    check_positive("depth", depth)
    check_choice("activation", activation, ACTIVATIONS)
    check_range("dropout", dropout, 0.0, 1.0)
    inputs = image_input(input_shape)
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i in range(depth):
        x = keras.layers.Dense(width, kernel_initializer=make_initializer(initializer_name),
                               bias_initializer="zeros", name=f"dense_{i}")(x)
        x = activation_layer(activation)(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    outputs = classifier_head(x, num_classes, initializer_name)
    return keras.Model(inputs, outputs, name=name)


@register_model
def mlp_small(initializer: str = "he_normal", **kwargs) -> keras.Model:
    """One hidden layer of 256 units."""
    return _create_mlp("mlp_small", **{"width": 256, "depth": 1, "initializer_name": initializer, **kwargs})


@register_model
def mlp_deep(initializer: str = "he_normal", **kwargs) -> keras.Model:
    """Six hidden layers of 256 units: deep enough for initialization and activation effects to show."""
    return _create_mlp("mlp_deep", **{"width": 256, "depth": 6, "initializer_name": initializer, **kwargs})
