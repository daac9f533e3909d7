"""Ensembles as one model: ``model.members: N`` builds N copies of the configured network on one image
input and averages their class probabilities (:class:`EnsembleAverage`).

One ``fit`` trains all members on the same batches; each gets the gradient of its own cross-entropy, so
they differ by their initialization, dropout masks and batch statistics as separately trained members
would. The result is one Keras model: checkpoints, EMA, calibration and the SavedModel export treat it
as any other, and serving averages the members in one call. Costs N times the training and inference
compute of one member.
"""
from __future__ import annotations

from typing import Callable

import keras

from .blocks import image_input
from .layers import EnsembleAverage


def ensemble(build: Callable[[], keras.Model], members: int, name: str) -> keras.Model:
    """``members`` networks from ``build()`` (each call a fresh initialization) averaged into one model."""
    nets = [build() for _ in range(members)]
    inputs = image_input(tuple(nets[0].inputs[0].shape[1:]))
    outputs = [keras.Model(net.inputs[0], net.outputs[0], name=f"member{i}")(inputs) for i, net in enumerate(nets)]
    return keras.Model(inputs, EnsembleAverage(name="ensemble_average", dtype="float32")(outputs),
                       name=f"{name}_ensemble{members}")
