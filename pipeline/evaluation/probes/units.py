"""Probes of the hidden units: activations and gradients at initialization, dead and saturated units,
how different the units of a layer end up."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from trainlab.models import Maxout, create_model

from ... import tracking
from .base import (
    AtBothEnds,
    OnBegin,
    OnEnd,
    ProbeData,
    cross_entropy,
    hidden_activations,
    hidden_outputs,
    register_probe,
)


@register_probe
def activations_at_init(data: ProbeData, bins: int = 40):
    """Mean and std of every hidden layer's outputs before the first step (``probe.act_mean``,
    ``probe.act_std`` stepped by layer) and their histograms (``probes/activations_at_init.json``)."""
    return OnBegin(lambda model: _activation_stats(model, data, bins))


def _activation_stats(model, data: ProbeData, bins: int) -> None:
    x, _ = data.batch()
    outputs = hidden_outputs(model, x)
    layers = []
    for o in outputs:
        counts, edges = np.histogram(o, bins=bins)
        layers.append({"mean": float(o.mean()), "std": float(o.std()), "counts": counts.tolist(),
                       "edges": edges.tolist()})
    tracking.log_series("probe.act_mean", [(i, layer["mean"]) for i, layer in enumerate(layers)])
    tracking.log_series("probe.act_std", [(i, layer["std"]) for i, layer in enumerate(layers)])
    if layers:
        tracking.log_metrics({"probe.act_std_last_over_first": layers[-1]["std"] / max(layers[0]["std"], 1e-30)})
    tracking.log_dict({"layers": layers}, "probes/activations_at_init.json")


@register_probe
def grad_norms_at_init(data: ProbeData, depth: int = 8, width: int = 256):
    """Per-layer kernel gradient norms at initialization in a deep MLP with the run's activation and
    initializer (``probe.grad_norm`` stepped by layer; ``probe.grad_first_over_last``)."""
    return OnBegin(lambda model: _grad_norms(data, depth, width))


def _grad_norms(data: ProbeData, depth: int, width: int) -> None:
    m = data.cfg.model
    keras.utils.set_random_seed(data.cfg.train.seed)
    net = create_model("mlp_deep", input_shape=data.x.shape[1:], num_classes=data.num_classes, depth=depth,
                       width=width, activation=m.activation, initializer=m.initializer, init_std=m.init_std)
    x, y = data.batch(256)
    kernels = [net.get_layer(f"dense_{i}").trainable_weights[0] for i in range(depth)]
    with tf.GradientTape() as tape:
        loss = cross_entropy(net(x, training=False), y)
    norms = [float(tf.norm(g)) for g in tape.gradient(loss, kernels)]
    tracking.log_series("probe.grad_norm", list(enumerate(norms)))
    tracking.log_metrics({"probe.grad_first_over_last": norms[0] / max(norms[-1], 1e-30)})


@register_probe
def dead_units(data: ProbeData, saturated_below: float = 0.01):
    """Dead and saturated hidden units, before the first step and after training.

    A unit is dead when its activation's derivative is zero for every one of 1,000 training images (no
    gradient reaches its weights); saturated values are unit-image pairs where the derivative's
    magnitude is below ``saturated_below``. Logs ``probe.dead_fraction_init``, ``probe.dead_fraction``,
    ``probe.saturated_fraction_init``, ``probe.saturated_fraction`` and per layer
    ``probe.dead_fraction_layer``."""
    return AtBothEnds(lambda model, suffix: _unit_health(model, data, saturated_below, suffix))


def _unit_health(model, data: ProbeData, saturated_below: float, suffix: str) -> None:
    x, _ = data.batch(1000)
    derivatives = unit_derivatives(model, x)
    if not all(np.isfinite(d).all() for d in derivatives):
        return  # a diverged network: no unit can be called dead or alive
    per_layer, saturated, values = [], 0, 0
    for d in derivatives:
        units = d.reshape(-1, d.shape[-1])
        per_layer.append((int((units.max(axis=0) == 0).sum()), units.shape[-1]))
        saturated += int((units < saturated_below).sum())
        values += units.size
    total = sum(n for _, n in per_layer)
    if not suffix:
        tracking.log_series("probe.dead_fraction_layer", [(i, d / n) for i, (d, n) in enumerate(per_layer)])
    tracking.log_metrics({f"probe.dead_fraction{suffix}": sum(d for d, _ in per_layer) / total if total else None,
                          f"probe.saturated_fraction{suffix}": saturated / values if values else None})


def unit_derivatives(model, x) -> list[np.ndarray]:
    """Per hidden layer, |d unit output / d its pre-activation| for every image: ``(N, ..., units)``.

    Elementwise activations differentiate their own input; a maxout unit sums the derivative over its
    pieces (1 for the winning piece: some gradient always passes).
    """
    layers = hidden_activations(model)
    if not layers:
        return []
    inputs = keras.Model(model.input, [layer.input for layer in layers])(x, training=False)
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    found = []
    for layer, z in zip(layers, inputs):
        z = tf.convert_to_tensor(z)
        if isinstance(layer, Maxout):
            z = tf.matmul(z, layer.kernel) + layer.bias
            apply = lambda t, layer=layer: tf.reduce_max(tf.reshape(t, (-1, layer.units, layer.pieces)), -1)  # noqa: E731
            pieces = layer.pieces
        else:
            apply, pieces = layer, getattr(layer, "pieces", 1)
        with tf.GradientTape() as tape:
            tape.watch(z)
            total = tf.reduce_sum(apply(z))
        d = np.abs(tape.gradient(total, z).numpy())
        if pieces > 1:
            d = d.reshape(*d.shape[:-1], d.shape[-1] // pieces, pieces).sum(axis=-1)
        found.append(d)
    return found


@register_probe
def unit_spread(data: ProbeData):
    """After training: how different the units of each dense layer are: the mean over inputs of the std
    of incoming weights across units (``probe.unit_spread`` by layer; 0 means all units identical), and its
    smallest and largest value over the layers."""
    return OnEnd(_spread)


def _spread(model) -> None:
    dense = [layer for layer in model.layers if isinstance(layer, (keras.layers.Dense, Maxout))
             and layer.name != "probabilities"]
    spreads = [float(np.asarray(layer.trainable_weights[0]).std(axis=-1).mean()) for layer in dense]
    tracking.log_series("probe.unit_spread", list(enumerate(spreads)))
    if spreads:
        tracking.log_metrics({"probe.min_unit_spread": min(spreads), "probe.max_unit_spread": max(spreads)})

