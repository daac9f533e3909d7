"""Residual family: the CIFAR ResNets of He et al. 2016 (section 4.2), 6n+2 layers.

A 3x3 stem, then three stages of ``n`` basic blocks (two 3x3 convolutions and an identity shortcut)
with ``width``, 2x and 4x filters, the later stages starting with stride 2 and a 1x1 projection on the
shortcut; global average pooling, dropout, softmax. ``depth`` 20 (n = 3) is ResNet-20: 0.27M parameters
at width 16. The lecture's claims about deep networks (initialization, normalization) need one.
"""
from __future__ import annotations

import keras

from .blocks import LayerOptions, image_input
from .registry import OptionError, register_model


def _conv(opts: LayerOptions, x, filters: int, name: str, strides: int = 1, kernel: int = 3):
    return keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=opts.normalization != "batch",
                               kernel_initializer=opts.kernel_initializer(), bias_initializer="zeros",
                               kernel_regularizer=opts.regularizer(), name=name)(x)


def _norm(opts: LayerOptions, x, name: str):
    layer = opts.norm_layer(name)
    return layer(x) if layer is not None else x


def _basic_block(opts: LayerOptions, x, filters: int, strides: int, name: str):
    """conv-norm-act-conv-norm, plus the shortcut (projected when the shape changes), then act."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _norm(opts, _conv(opts, x, filters, f"{name}_proj", strides, kernel=1), f"{name}_proj")
    y = opts.activation_layer()(_norm(opts, _conv(opts, x, filters, f"{name}_conv0", strides), f"{name}_conv0"))
    y = _norm(opts, _conv(opts, y, filters, f"{name}_conv1"), f"{name}_conv1")
    return opts.activation_layer()(keras.layers.Add(name=f"{name}_add")([shortcut, y]))


def _create_resnet(name: str, *, input_shape=(32, 32, 3), num_classes: int = 10, width: int = 16, depth: int = 20,
                   **layer_options) -> keras.Model:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise OptionError(f"width must be a positive integer; got {width!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise OptionError(f"depth must be 6n+2 layers (8, 14, 20, 32, 44, 56, ...); got {depth!r}")
    if layer_options.get("activation") == "maxout":
        raise OptionError("activation maxout is not offered by resnet (its blocks add same-width branches)")
    opts = LayerOptions(**{"normalization": "batch", **layer_options})
    inputs = image_input(input_shape)
    x = opts.activation_layer()(_norm(opts, _conv(opts, inputs, width, "stem"), "stem"))
    for stage in range(3):
        for block in range((depth - 2) // 6):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(opts, x, width * 2 ** stage, strides, name=f"stage{stage}_block{block}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = opts.drop(x)
    return keras.Model(inputs, opts.head(x, num_classes), name=name)


@register_model
def resnet(**options) -> keras.Model:
    """ResNet-20 for small images (He et al. 2016): three stages of 3 basic blocks, 16/32/64 filters, BN."""
    return _create_resnet("resnet", **options)
