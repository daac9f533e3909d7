"""Dense (MLP) family: flatten the image, then ``depth`` fully connected layers of ``width`` units."""
from __future__ import annotations

import keras

from .blocks import LayerOptions, check_positive, image_input
from .registry import register_model


def _create_mlp(name: str, *, input_shape=(28, 28, 1), num_classes: int = 10, width: int = 256, depth: int = 2,
                **layer_options) -> keras.Model:
    check_positive("width", width)
    check_positive("depth", depth)
    opts = LayerOptions(**layer_options)
    inputs = image_input(input_shape)
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i in range(depth):
        x = opts.dense(x, width, name=f"dense_{i}")
        x = opts.drop(x, name=f"dropout_{i}")
    return keras.Model(inputs, opts.head(x, num_classes), name=name)


@register_model
def mlp_small(**options) -> keras.Model:
    """One hidden layer of 256 units."""
    return _create_mlp("mlp_small", **{"width": 256, "depth": 1, **options})


@register_model
def mlp_deep(**options) -> keras.Model:
    """Six hidden layers of 256 units: deep enough for initialization and activation effects to show."""
    return _create_mlp("mlp_deep", **{"width": 256, "depth": 6, **options})
