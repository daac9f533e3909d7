"""Measurements a study takes without training: operation timings and statistics of fresh networks."""
from __future__ import annotations

import logging
import time

import keras
import numpy as np
import tensorflow as tf

from trainlab.models import create_model

from ...config.loading import load_config
from ...data.inputs import Normalizer, load_splits
from ...data.sources import load_dataset
from ...evaluation.probes import cross_entropy, hidden_outputs, unit_derivatives


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
    derivative below ``saturated_below``), and the kernel gradient reaching mostly saturated units
    (saturated on at least half of the images) over the gradient reaching mostly unsaturated ones (on at
    most 10%), per unit, pooled over the layers (``saturated_unit_gradient``; absent where either kind is
    missing), and the saturated fraction of the unit values whose output is positive
    (``positive_saturated_fraction``). Returns ``{label: {key: [value per seed]}}``."""
    found = {}
    for label, options in nets.items():
        values = {"grad_first_over_last": [], "first_layer_mean": [], "act_std_last_over_first": [],
                  "saturated_fraction": [], "saturated_unit_gradient": [], "first_layer_mean_over_std": [],
                  "positive_saturated_fraction": []}
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            net = create_model("mlp_deep", input_shape=x.shape[1:], num_classes=num_classes, depth=depth,
                               width=width, **options)
            kernels = [net.get_layer(f"dense_{i}").trainable_weights[0] for i in range(depth)]
            with tf.GradientTape() as tape:
                loss = cross_entropy(net(x, training=False), y)
            gradients = tape.gradient(loss, kernels)
            norms = [float(tf.norm(g)) for g in gradients]
            outputs = hidden_outputs(net, x)
            per_layer = unit_derivatives(net, x)
            derivatives = np.concatenate([d.ravel() for d in per_layer])
            values["saturated_unit_gradient"].append(_saturated_unit_gradient(per_layer, gradients, saturated_below))
            values["grad_first_over_last"].append(norms[0] / max(norms[-1], 1e-30))
            values["first_layer_mean"].append(float(outputs[0].mean()))
            values["first_layer_mean_over_std"].append(float(outputs[0].mean() / max(outputs[0].std(), 1e-30)))
            values["act_std_last_over_first"].append(float(outputs[-1].std() / max(outputs[0].std(), 1e-30)))
            values["saturated_fraction"].append(float((derivatives < saturated_below).mean()))
            positive = np.concatenate([o.ravel() for o in outputs]) > 0
            values["positive_saturated_fraction"].append(
                float((derivatives[positive] < saturated_below).mean()) if positive.any() else None)
        found[label] = values
    return found


def _saturated_unit_gradient(derivatives, gradients, saturated_below: float) -> float | None:
    """Mean incoming-kernel gradient norm of mostly saturated units over that of mostly unsaturated ones."""
    saturated, alive = [], []
    for d, g in zip(derivatives, gradients):
        share = (d.reshape(-1, d.shape[-1]) < saturated_below).mean(axis=0)
        column = np.linalg.norm(np.asarray(g), axis=0)
        saturated += list(column[share >= 0.5])
        alive += list(column[share <= 0.1])
    if not saturated or not alive:
        return None
    return float(np.mean(saturated) / max(np.mean(alive), 1e-30))


def probe_batch(overrides: dict | None, n: int = 512, base: dict | None = None):
    """``n`` normalized training images and labels of the configured data (the study's dataset)."""
    cfg = load_config(None, {**(base or {}), **(overrides or {})})
    ds, splits = load_splits(cfg)
    normalizer = Normalizer.fit(cfg.data.normalization, splits.x_train)
    return normalizer(splits.x_train[:n]).numpy(), splits.y_train[:n], ds.num_classes


NETWORKS = {  # the networks the studies train, at their default sizes: name -> model options
    "cnn": {"name": "cnn", "width": 16, "dropout": 0.0, "normalization": "none"},
    "mlp, 2 layers": {"name": "mlp_deep", "depth": 2, "width": 128},
    "mlp, 4 layers": {"name": "mlp_deep", "depth": 4, "width": 128},
}


def parameter_ratios(activation: str, reference: str, input_shape=(28, 28, 1), num_classes: int = 10) -> list:
    """Parameters of each of :data:`NETWORKS` with ``activation`` over the same network with ``reference``."""
    ratios = []
    for options in NETWORKS.values():
        options = dict(options)
        name = options.pop("name")
        counts = [create_model(name, input_shape=input_shape, num_classes=num_classes, activation=a,
                               **options).count_params() for a in (activation, reference)]
        ratios.append(counts[0] / counts[1])
    return ratios


def linear_sensitivity(x: np.ndarray, y: np.ndarray, num_classes: int, seeds, offset: float = 4.0,
                       noise: float = 0.01, target: float = 0.9, max_steps: int = 3000, draws: int = 5) -> dict:
    """The lecture's figure: a linear softmax classifier trained (full batch, Adam) on centred inputs
    ``x`` and on the same inputs moved ``offset`` away from the origin (``x + offset``, the same
    classes), each until its training accuracy reaches ``target`` (so the two are compared at equal
    fit; at most ``max_steps``), then its weights moved by the same small Gaussian change (``noise``
    times the centred model's weight std): the mean |change| of the loss. Returns ``{"centred"|"far":
    {"sensitivity", "train_accuracy", "steps": [per seed]}}``."""
    x = x.reshape(len(x), -1).astype("float32")
    x = x - x.mean(axis=0)
    found = {name: {"sensitivity": [], "train_accuracy": [], "steps": []} for name in ("centred", "far")}
    for seed in seeds:
        models, scale = {}, None
        for name, inputs in (("centred", x), ("far", x + offset)):
            keras.utils.set_random_seed(seed)
            model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Dense(num_classes, activation="softmax")])
            model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
            steps = 0  # full batch, one step at a time (fit would build a dataset iterator each)
            while steps < max_steps and (steps == 0 or model.test_on_batch(inputs, y)[1] < target):
                model.train_on_batch(inputs, y)
                steps += 1
            found[name]["steps"].append(steps)
            models[name] = (model, inputs)
            scale = scale or float(np.std(model.layers[0].kernel.numpy()))
        rng = np.random.default_rng(seed)
        changes = [rng.normal(0.0, noise * scale, models["centred"][0].layers[0].kernel.shape).astype("float32")
                   for _ in range(draws)]
        for name, (model, inputs) in models.items():
            kernel = model.layers[0].kernel
            saved = kernel.numpy()
            base, accuracy = model.test_on_batch(inputs, y)
            moved = []
            for change in changes:
                kernel.assign(saved + change)
                moved.append(abs(model.test_on_batch(inputs, y)[0] - base))
            kernel.assign(saved)
            found[name]["sensitivity"].append(float(np.mean(moved)))
            found[name]["train_accuracy"].append(float(accuracy))
    return found


def mnist_facts() -> dict:
    """MNIST as trainlab loads it: image size, split sizes and classes (``{fact: [value]}``)."""
    ds = load_dataset("mnist")
    return {"height": [ds.x_train.shape[1]], "width": [ds.x_train.shape[2]], "training images": [len(ds.x_train)],
            "test images": [len(ds.x_test)], "classes": [ds.num_classes]}
