"""Measurements a study takes without training: operation timings and statistics of fresh networks."""
from __future__ import annotations

import logging
import time

import keras
import numpy as np
import tensorflow as tf

from trainlab.models import create_model


def activation_seconds(activations, shape=(256, 16384), repeats: int = 7, iterations: int = 10) -> dict:
    """Forward + backward time of each activation on one fixed float32 tensor, interleaved.

    Returns ``{activation: {"seconds": [per-repeat seconds per iteration]}}``; activations run in turn
    within each repeat, so drift in the machine's speed hits them alike.
    """
    x = tf.random.stateless_normal(shape, seed=(1, 2))
    steps = {}
    quiet = logging.getLogger("tensorflow")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # one tf.function per activation is by design, not retracing
    for name in activations:
        layer = _elementwise(name)

        @tf.function
        def step(x, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x)
            return tape.gradient(y, x, output_gradients=tf.ones_like(y))

        step(x).numpy()  # trace and warm up
        steps[name] = step
    quiet.setLevel(level)
    found = {name: {"seconds": []} for name in activations}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(iterations):
                out = step(x)
            out.numpy()
            found[name]["seconds"].append((time.perf_counter() - start) / iterations)
    return found


def _elementwise(name: str):
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.01)
    if name == "maxout":  # two pieces over the last axis: the max of neighbouring pairs
        return lambda t: tf.reduce_max(tf.reshape(t, (*t.shape[:-1], t.shape[-1] // 2, 2)), -1)
    return keras.layers.Activation(name)


def deep_net_statistics(x: np.ndarray, y: np.ndarray, num_classes: int, seeds, depth: int, width: int,
                        nets: dict, saturated_below: float = 0.01) -> dict:
    """For fresh deep MLPs (``nets``: label -> model options) on one batch, per seed: the kernel gradient
    norm of the first layer over the last, the mean output of the first hidden layer, the std of the last
    hidden layer's outputs over the first's, and the fraction of saturated unit-image values (activation
    derivative below ``saturated_below``). Returns ``{label: {key: [value per seed]}}``."""
    from ...evaluation.probes import cross_entropy, hidden_outputs, unit_derivatives
    found = {}
    for label, options in nets.items():
        values = {"grad_first_over_last": [], "first_layer_mean": [], "act_std_last_over_first": [],
                  "saturated_fraction": []}
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            net = create_model("mlp_deep", input_shape=x.shape[1:], num_classes=num_classes, depth=depth,
                               width=width, **options)
            kernels = [net.get_layer(f"dense_{i}").trainable_weights[0] for i in range(depth)]
            with tf.GradientTape() as tape:
                loss = cross_entropy(net(x, training=False), y)
            norms = [float(tf.norm(g)) for g in tape.gradient(loss, kernels)]
            outputs = hidden_outputs(net, x)
            derivatives = np.concatenate([d.ravel() for d in unit_derivatives(net, x)])
            values["grad_first_over_last"].append(norms[0] / max(norms[-1], 1e-30))
            values["first_layer_mean"].append(float(outputs[0].mean()))
            values["act_std_last_over_first"].append(float(outputs[-1].std() / max(outputs[0].std(), 1e-30)))
            values["saturated_fraction"].append(float((derivatives < saturated_below).mean()))
        found[label] = values
    return found


def probe_batch(overrides: dict | None, n: int = 512, base: dict | None = None):
    """``n`` normalized training images and labels of the configured data (the study's dataset)."""
    from ...config.loading import load_config
    from ...data.inputs import Normalizer, load_splits
    cfg = load_config(None, {**(base or {}), **(overrides or {})})
    ds, splits = load_splits(cfg)
    normalizer = Normalizer.fit(cfg.data.normalization, splits.x_train)
    return normalizer(splits.x_train[:n]).numpy(), splits.y_train[:n], ds.num_classes
