"""Optimizers and learning-rate schedules, built from the train config.

Schedules are functions of the optimizer step, with the formulas in their docstrings:
``constant``, ``step`` decay, ``cosine`` with linear warmup, and ``one_cycle``.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from trainlab import compat

from ..config.schema import TrainConfig
from ..errors import ConfigError


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


def make_schedule(t: TrainConfig, steps_per_epoch: int, peak: float | None = None):
    """The learning rate (a float or a schedule of the step) that ``t`` asks for, peaking at ``peak``
    (the plan's effective rate; default ``t.learning_rate``)."""
    peak = t.learning_rate if peak is None else peak
    total = t.epochs * steps_per_epoch
    if t.lr_schedule == "step":
        return StepDecay(peak, t.step_epochs * steps_per_epoch, t.step_gamma)
    if t.lr_schedule == "cosine":
        return WarmupCosine(peak, total, round(t.warmup_epochs * steps_per_epoch))
    if t.lr_schedule == "one_cycle":
        return OneCycle(peak, total)
    return peak


class WarmupEMA:
    """Keras's optimizer EMA (``use_ema``: the average is updated inside every optimizer step and saved
    with the optimizer's variables) with the decay warmed up as TensorFlow's and timm's averages do:
    ``min(decay, (1 + t) / (10 + t))`` at step ``t``, so early averages are not dominated by the random
    initial weights. Step 0 copies the weights, as Keras does."""

    def _update_model_variables_moving_average(self, trainable_variables):  # compat.KERAS_EMA_UPDATE
        t = keras.ops.cast(self.iterations, "float32")
        decay = keras.ops.where(t > 0, keras.ops.minimum(self.ema_momentum, (1.0 + t) / (10.0 + t)), 0.0)
        for var, average in zip(trainable_variables, getattr(self, compat.KERAS_EMA_VARIABLES)):
            if average is not None:
                d = keras.ops.cast(decay, var.dtype)
                average.assign(d * average + (1.0 - d) * var)


class ScaledRates:
    """A per-variable multiplier on the learning rate (``variable_scales``: ``id(variable) -> factor``, set
    before the optimizer is built): the backbone of a fine-tuned model learns at ``train.backbone_lr_scale``
    times the schedule. Scaling the rate, not the gradient, keeps it right for Adam and RMSprop (which
    divide the gradient's scale away), and every variable keeps its own optimizer state."""

    variable_scales: dict = {}

    def build(self, variables):
        super().build(variables)
        self._rate_scales = [float(self.variable_scales.get(id(v), 1.0)) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        scale = self._rate_scales[compat.variable_index(self, variable)]
        return super().update_step(gradient, variable, learning_rate if scale == 1.0 else learning_rate * scale)


_OPTIMIZERS = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
               "rmsprop": keras.optimizers.RMSprop}
_WITH_EMA = {name: type(f"{cls.__name__}WithEMA", (WarmupEMA, cls), {}) for name, cls in _OPTIMIZERS.items()}
_SCALED = {ema: {name: type(f"Scaled{cls.__name__}", (ScaledRates, cls), {}) for name, cls in table.items()}
           for ema, table in ((False, _OPTIMIZERS), (True, _WITH_EMA))}


def make_optimizer(t: TrainConfig, steps_per_epoch: int, peak: float | None = None,
                   learning_rate=None, scales: dict | None = None) -> keras.optimizers.Optimizer:
    """SGD (momentum, Nesterov), Adam, AdamW (decoupled weight decay) or RMSprop; gradients clipped to
    the global norm ``train.clip_norm`` when it is set (Keras's own ``global_clipnorm``); with
    ``train.ema``, an exponential moving average of the weights kept by the optimizer (:class:`WarmupEMA`).

    The rate follows ``t``'s schedule up to ``peak`` (:func:`make_schedule`); ``learning_rate`` replaces
    the schedule with a fixed rate or a schedule of its own (the learning-rate finder's). ``scales``
    (``id(variable) -> factor``) multiplies some variables' rates (:class:`ScaledRates`)."""
    lr = make_schedule(t, steps_per_epoch, peak) if learning_rate is None else learning_rate
    options = {"global_clipnorm": t.clip_norm} if t.clip_norm else {}
    if t.ema:
        options.update(use_ema=True, ema_momentum=t.ema)
    if t.optimizer == "sgd":
        options.update(momentum=t.momentum, nesterov=t.nesterov)
    elif t.optimizer == "adamw":
        options.update(weight_decay=t.weight_decay)
    if scales:
        optimizer = _SCALED[bool(t.ema)][t.optimizer](lr, **options)
        optimizer.variable_scales = dict(scales)
        return optimizer
    return (_WITH_EMA if t.ema else _OPTIMIZERS)[t.optimizer](lr, **options)


def averaged_weights(model: keras.Model) -> list:
    """``model.get_weights()`` with every trainable variable replaced by its optimizer's moving average
    (the weights an EMA run validates, keeps and exports; batch-norm statistics stay the model's)."""
    averages = compat.ema_averages(model.optimizer)
    return [keras.ops.convert_to_numpy(averages.get(id(w), w)) for w in model.weights]


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


def make_loss(t: TrainConfig, ensemble: bool = False) -> keras.losses.Loss:
    """Cross-entropy, or the lecture's L2 loss (mean squared error on the one-hot targets). An ensemble
    (``model.members`` > 1) trains on :class:`ProbabilityCrossentropy`, which its average layer needs."""
    if t.loss == "mse":
        return keras.losses.MeanSquaredError()
    return ProbabilityCrossentropy() if ensemble else keras.losses.CategoricalCrossentropy()


@keras.saving.register_keras_serializable(package="trainlab")
class ProbabilityCrossentropy(keras.losses.Loss):
    """``-sum(y * log p)`` on probabilities that already sum to 1, clipped as Keras clips them.

    Keras's ``CategoricalCrossentropy`` first renormalizes ``p / sum(p)``: the same value for a softmax
    output, but its gradient term would hand every ensemble member the ensemble's error instead of its
    own (``models.layers.EnsembleAverage``)."""

    def __init__(self, name: str = "probability_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        eps = keras.config.epsilon()
        y_pred = ops.clip(y_pred, eps, 1.0 - eps)
        return -ops.sum(ops.cast(y_true, y_pred.dtype) * ops.log(y_pred), axis=-1)
