"""Recurrent family: read the image's 28 rows as a sequence of 28-pixel vectors.

The recurrent cell keeps its own (tanh/sigmoid) gates; the family's activation, normalization and
dropout options shape the dense layer after it.
"""
from __future__ import annotations

import keras

from .blocks import LayerOptions, check_positive, image_input
from .registry import register_model

CELLS = {"simple": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def _create_rnn(name: str, cell: str, *, input_shape=(28, 28, 1), num_classes: int = 10, width: int = 128,
                dense: int = 128, **layer_options) -> keras.Model:
    check_positive("width", width)
    opts = LayerOptions(**layer_options)
    inputs = image_input(input_shape)
    rows = keras.layers.Reshape((input_shape[0], input_shape[1] * input_shape[2]), name="rows")(inputs)
    x = CELLS[cell](width, kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                    bias_initializer="zeros", kernel_regularizer=opts.regularizer(), name=cell)(rows)
    if dense:
        x = opts.dense(x, dense, name="dense")
    x = opts.drop(x)
    return keras.Model(inputs, opts.head(x, num_classes), name=name)


@register_model
def rnn_simple(**options) -> keras.Model:
    """SimpleRNN (128 units) over the rows, dense 128, softmax."""
    return _create_rnn("rnn_simple", "simple", **options)


@register_model
def rnn_lstm(**options) -> keras.Model:
    """LSTM (128 units) over the rows, dense 128, softmax."""
    return _create_rnn("rnn_lstm", "lstm", **options)


@register_model
def rnn_gru(**options) -> keras.Model:
    """GRU (128 units) over the rows, dense 128, softmax."""
    return _create_rnn("rnn_gru", "gru", **options)
