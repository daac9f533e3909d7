"""Optimizers and learning-rate schedules, built from the train config.

Schedules are functions of the optimizer step, with the formulas in their docstrings:
``constant``, ``step`` decay, ``cosine`` with linear warmup, and ``one_cycle``.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from .config import TrainConfig
from .errors import ConfigError


@keras.saving.register_keras_serializable(package="trainlab")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr(step) = peak * gamma ** floor(step / every)."""

    def __init__(self, peak: float, every: int, gamma: float):
        self.peak, self.every, self.gamma = peak, max(1, int(every)), gamma

    def __call__(self, step):
        step = ops.cast(step, "float32")
        return self.peak * ops.power(self.gamma, ops.floor(step / self.every))

    def get_config(self):
        return {"peak": self.peak, "every": self.every, "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="trainlab")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup then cosine decay to 0.

    lr(step) = peak * step / warmup                                  for step < warmup
    lr(step) = peak * 0.5 * (1 + cos(pi * (step - warmup) / (total - warmup)))   afterwards
    """

    def __init__(self, peak: float, total: int, warmup: int = 0):
        self.peak, self.total, self.warmup = peak, max(1, int(total)), max(0, int(warmup))

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * step / max(1, self.warmup)
        progress = ops.clip((step - self.warmup) / max(1, self.total - self.warmup), 0.0, 1.0)
        cosine = self.peak * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup, warm, cosine)

    def get_config(self):
        return {"peak": self.peak, "total": self.total, "warmup": self.warmup}


@keras.saving.register_keras_serializable(package="trainlab")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle (Smith 2018), cosine phases: up from peak/div to peak over the first ``pct`` of steps,
    then down to peak/(div * final_div).

    lr(step) = low + (peak - low) * 0.5 * (1 - cos(pi * step / up))                    for step < up
    lr(step) = end + (peak - end) * 0.5 * (1 + cos(pi * (step - up) / (total - up)))    afterwards
    with up = pct * total, low = peak / div, end = low / final_div.
    """

    def __init__(self, peak: float, total: int, pct: float = 0.3, div: float = 25.0, final_div: float = 1e4):
        self.peak, self.total, self.pct, self.div, self.final_div = peak, max(2, int(total)), pct, div, final_div

    def __call__(self, step):
        step = ops.cast(step, "float32")
        up = max(1.0, self.pct * self.total)
        low, end = self.peak / self.div, self.peak / self.div / self.final_div
        rising = low + (self.peak - low) * 0.5 * (1.0 - ops.cos(math.pi * ops.clip(step / up, 0.0, 1.0)))
        down = ops.clip((step - up) / max(1.0, self.total - up), 0.0, 1.0)
        falling = end + (self.peak - end) * 0.5 * (1.0 + ops.cos(math.pi * down))
        return ops.where(step < up, rising, falling)

    def get_config(self):
        return {"peak": self.peak, "total": self.total, "pct": self.pct, "div": self.div,
                "final_div": self.final_div}


def make_schedule(t: TrainConfig, steps_per_epoch: int):
    """The learning rate (a float or a schedule of the step) that ``t`` asks for."""
    total = t.epochs * steps_per_epoch
    if t.lr_schedule == "step":
        return StepDecay(t.learning_rate, t.step_epochs * steps_per_epoch, t.step_gamma)
    if t.lr_schedule == "cosine":
        return WarmupCosine(t.learning_rate, total, round(t.warmup_epochs * steps_per_epoch))
    if t.lr_schedule == "one_cycle":
        return OneCycle(t.learning_rate, total)
    return t.learning_rate


def make_optimizer(t: TrainConfig, steps_per_epoch: int, learning_rate=None) -> keras.optimizers.Optimizer:
    """SGD (momentum, Nesterov), Adam, AdamW (decoupled weight decay) or RMSprop; gradients clipped to
    the global norm ``train.clip_norm`` when it is set (Keras's own ``global_clipnorm``)."""
    lr = make_schedule(t, steps_per_epoch) if learning_rate is None else learning_rate
    clip = {"global_clipnorm": t.clip_norm} if t.clip_norm else {}
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=t.momentum, nesterov=t.nesterov, **clip)
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=t.weight_decay, **clip)
    if t.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr, **clip)
    return keras.optimizers.Adam(lr, **clip)


def class_weights(setting, labels, num_classes: int) -> dict[int, float] | None:
    """``train.class_weight`` as Keras's ``class_weight``: ``balanced`` gives each class
    ``n / (classes x count)`` (scikit-learn's rule), so every class weighs the same in the loss."""
    if setting is None:
        return None
    if setting == "balanced":
        counts = np.bincount(labels, minlength=num_classes)
        return {c: float(len(labels) / (num_classes * n)) if n else 0.0 for c, n in enumerate(counts)}
    unknown = sorted(set(setting) - set(range(num_classes)))
    if unknown:
        raise ConfigError(f"train.class_weight names class(es) {unknown} but the data has {num_classes} classes")
    return {c: float(setting.get(c, 1.0)) for c in range(num_classes)}


def make_loss(t: TrainConfig) -> keras.losses.Loss:
    """Cross-entropy, or the lecture's L2 loss (mean squared error on the one-hot targets)."""
    if t.loss == "mse":
        return keras.losses.MeanSquaredError()
    return keras.losses.CategoricalCrossentropy()
