"""Probes that evaluate the model: the loss's sensitivity to weight noise at initialization, accuracy on
noisy images, and on clean training images after training."""
from __future__ import annotations

import numpy as np

from ... import tracking
from .base import OnBegin, OnEnd, ProbeData, cross_entropy, register_probe


@register_probe
def loss_sensitivity(data: ProbeData, noise: float = 0.01, draws: int = 5):
    """How much the loss at initialization moves when every kernel gets Gaussian noise of ``noise``
    times its own std (``probe.loss_at_init``, ``probe.loss_sensitivity``: mean |change|)."""
    return OnBegin(lambda model: _sensitivity(model, data, noise, draws))


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
def noisy_eval(data: ProbeData, std: float = 0.5):
    """After training: validation accuracy on clean images and with Gaussian noise of ``std`` (in
    normalized units) added (``probe.clean_accuracy``, ``probe.noisy_accuracy``,
    ``probe.noise_accuracy_drop``)."""
    return OnEnd(lambda model: _noisy(model, data, std))


def _noisy(model, data: ProbeData, std: float) -> None:
    x, y = (data.x_val, data.y_val) if data.x_val is not None else data.batch(5000)
    noise = np.random.default_rng(data.cfg.train.seed).normal(0.0, std, x.shape).astype(np.float32)
    clean = float((model.predict(x, batch_size=1000, verbose=0).argmax(-1) == y).mean())
    noisy = float((model.predict(x + noise, batch_size=1000, verbose=0).argmax(-1) == y).mean())
    tracking.log_metrics({"probe.clean_accuracy": clean, "probe.noisy_accuracy": noisy,
                          "probe.noise_accuracy_drop": clean - noisy})


@register_probe
def clean_train_eval(data: ProbeData, limit: int = 10000):
    """After training (best epoch's weights): accuracy and loss on un-augmented training images
    (``probe.train_accuracy``, ``probe.train_loss``), for an honest train-validation gap."""
    return OnEnd(lambda model: _clean_eval(model, data, limit))


def _clean_eval(model, data: ProbeData, limit: int) -> None:
    x, y = data.x[:limit], data.y[:limit]
    p = model.predict(x, batch_size=1000, verbose=0)
    tracking.log_metrics({"probe.train_accuracy": float((p.argmax(-1) == y).mean()),
                          "probe.train_loss": float(cross_entropy(p, y))})

