"""Probes: measurements taken inside a training run, logged to it as ``probe.*`` metrics.

Each probe is a Keras callback built by name from a registry (``{"name": "dead_units"}``), so a sweep
point can ask for them across process boundaries. Per-layer values are logged as one metric stepped by
layer index; per-batch values stepped by global batch number.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from trainlab.models import Maxout, create_model
from trainlab.models.layers import ChannelMaxout
from . import tracking
from .config import Config

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


# --- probes -----------------------------------------------------------------------------------------

@register_probe
def steps_to_accuracy(data: ProbeData, threshold: float = 0.9, smoothing: int = 20, every: int = 10):
    """The first training step at which the smoothed per-batch training accuracy reaches ``threshold``
    (``probe.steps_to_accuracy``; absent if never), and the smoothed curve (``probe.train_accuracy_ema``)."""
    return _StepsToAccuracy(threshold, smoothing, every)


class _StepsToAccuracy(keras.callbacks.Callback):
    def __init__(self, threshold, smoothing, every):
        super().__init__()
        self.threshold, self.alpha, self.every = threshold, 2.0 / (smoothing + 1), every
        self.step, self.ema, self.previous, self.reached, self.curve = 0, None, 0.0, None, []

    def on_epoch_begin(self, epoch, logs=None):
        self.previous = 0.0

    def on_train_batch_end(self, batch, logs=None):
        running = (logs or {}).get("accuracy")
        if running is None:
            return
        # Keras reports the epoch's running mean; recover this batch's own accuracy from it.
        value = (batch + 1) * float(running) - batch * self.previous
        self.previous = float(running)
        self.ema = value if self.ema is None else self.ema + self.alpha * (value - self.ema)
        self.step += 1
        if self.reached is None and self.ema >= self.threshold:
            self.reached = self.step
        if self.step % self.every == 0:
            self.curve.append((self.step, self.ema))

    def on_train_end(self, logs=None):
        tracking.log_series("probe.train_accuracy_ema", self.curve)
        tracking.log_metrics({"probe.accuracy_threshold": self.threshold, "probe.steps_run": self.step,
                              "probe.steps_to_accuracy": self.reached})


@register_probe
def batch_loss(data: ProbeData, every: int = 5):
    """The training loss of every ``every``-th batch (``probe.batch_loss``)."""
    return _BatchLoss(every)


class _BatchLoss(keras.callbacks.Callback):
    def __init__(self, every):
        super().__init__()
        self.every, self.step, self.previous, self.curve = every, 0, 0.0, []

    def on_epoch_begin(self, epoch, logs=None):
        self.previous = 0.0

    def on_train_batch_end(self, batch, logs=None):
        running = float((logs or {}).get("loss", np.nan))
        value = (batch + 1) * running - batch * self.previous
        self.previous = running
        self.step += 1
        if self.step % self.every == 0 or self.step == 1:
            self.curve.append((self.step, value))

    def on_train_end(self, logs=None):
        tracking.log_series("probe.batch_loss", self.curve)


@register_probe
def activations_at_init(data: ProbeData, bins: int = 40):
    """Mean and std of every hidden layer's outputs before the first step (``probe.act_mean``,
    ``probe.act_std`` stepped by layer) and their histograms (``probes/activations_at_init.json``)."""
    return _OnBegin(lambda model: _activation_stats(model, data, bins))


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
    return _OnBegin(lambda model: _grad_norms(data, depth, width))


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
def loss_sensitivity(data: ProbeData, noise: float = 0.01, draws: int = 5):
    """How much the loss at initialization moves when every kernel gets Gaussian noise of ``noise``
    times its own std (``probe.loss_at_init``, ``probe.loss_sensitivity``: mean |change|)."""
    return _OnBegin(lambda model: _sensitivity(model, data, noise, draws))


def _sensitivity(model, data: ProbeData, noise: float, draws: int) -> None:
    x, y = data.batch()
    kernels = [w for w in model.trainable_weights if len(w.shape) > 1]
    saved = [w.numpy() for w in kernels]
    base = float(cross_entropy(model(x, training=False), y))
    rng, changes = np.random.default_rng(data.cfg.train.seed), []
    for _ in range(draws):
        for w, value in zip(kernels, saved):
            w.assign(value + rng.normal(0.0, noise * (value.std() or 1.0), value.shape).astype(value.dtype))
        changes.append(abs(float(cross_entropy(model(x, training=False), y)) - base))
    for w, value in zip(kernels, saved):
        w.assign(value)
    tracking.log_metrics({"probe.loss_at_init": base, "probe.loss_sensitivity": float(np.mean(changes))})


@register_probe
def dead_units(data: ProbeData, saturated_below: float = 0.01):
    """Dead and saturated hidden units, before the first step and after training.

    A unit is dead when its activation's derivative is zero for every one of 1,000 training images (no
    gradient reaches its weights); saturated values are unit-image pairs where the derivative's
    magnitude is below ``saturated_below``. Logs ``probe.dead_fraction_init``, ``probe.dead_fraction``,
    ``probe.saturated_fraction_init``, ``probe.saturated_fraction`` and per layer
    ``probe.dead_fraction_layer``."""
    return _AtBothEnds(lambda model, suffix: _unit_health(model, data, saturated_below, suffix))


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
def noisy_eval(data: ProbeData, std: float = 0.5):
    """After training: validation accuracy on clean images and with Gaussian noise of ``std`` (in
    normalized units) added (``probe.clean_accuracy``, ``probe.noisy_accuracy``,
    ``probe.noise_accuracy_drop``)."""
    return _OnEnd(lambda model: _noisy(model, data, std))


def _noisy(model, data: ProbeData, std: float) -> None:
    x, y = (data.x_val, data.y_val) if data.x_val is not None else data.batch(5000)
    noise = np.random.default_rng(data.cfg.train.seed).normal(0.0, std, x.shape).astype(np.float32)
    clean = float((model.predict(x, batch_size=1000, verbose=0).argmax(-1) == y).mean())
    noisy = float((model.predict(x + noise, batch_size=1000, verbose=0).argmax(-1) == y).mean())
    tracking.log_metrics({"probe.clean_accuracy": clean, "probe.noisy_accuracy": noisy,
                          "probe.noise_accuracy_drop": clean - noisy})


@register_probe
def unit_spread(data: ProbeData):
    """After training: how different the units of each dense layer are: the mean over inputs of the std
    of incoming weights across units (``probe.unit_spread`` by layer; 0 means all units identical)."""
    return _OnEnd(_spread)


def _spread(model) -> None:
    dense = [layer for layer in model.layers if isinstance(layer, (keras.layers.Dense, Maxout))
             and layer.name != "probabilities"]
    spreads = [float(np.asarray(layer.trainable_weights[0]).std(axis=-1).mean()) for layer in dense]
    tracking.log_series("probe.unit_spread", list(enumerate(spreads)))
    if spreads:
        tracking.log_metrics({"probe.min_unit_spread": min(spreads)})


@register_probe
def clean_train_eval(data: ProbeData, limit: int = 10000):
    """After training (best epoch's weights): accuracy and loss on un-augmented training images
    (``probe.train_accuracy``, ``probe.train_loss``), for an honest train-validation gap."""
    return _OnEnd(lambda model: _clean_eval(model, data, limit))


def _clean_eval(model, data: ProbeData, limit: int) -> None:
    x, y = data.x[:limit], data.y[:limit]
    p = model.predict(x, batch_size=1000, verbose=0)
    tracking.log_metrics({"probe.train_accuracy": float((p.argmax(-1) == y).mean()),
                          "probe.train_loss": float(cross_entropy(p, y))})


class _OnBegin(keras.callbacks.Callback):
    def __init__(self, measure):
        super().__init__()
        self.measure = measure

    def on_train_begin(self, logs=None):
        self.measure(self.model)


class _OnEnd(_OnBegin):
    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        self.measure(self.model)


class _AtBothEnds(_OnBegin):
    """Measures before the first step (metric names ending ``_init``) and after training."""

    def on_train_begin(self, logs=None):
        self.measure(self.model, "_init")

    def on_train_end(self, logs=None):
        self.measure(self.model, "")
