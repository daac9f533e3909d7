"""Probes of the training curve, batch by batch."""
from __future__ import annotations

import keras
import numpy as np

from ... import tracking
from .base import ProbeData, register_probe


class _PerBatch(keras.callbacks.Callback):
    """Each batch's own value of a logged metric: Keras reports the epoch's running mean."""

    def __init__(self):
        super().__init__()
        self.step, self.previous = 0, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.previous = 0.0

    def batch_value(self, batch, logs, key):
        """This batch's ``key`` recovered from the running mean (None when not logged); counts the step."""
        running = (logs or {}).get(key)
        if running is None:
            return None
        value = (batch + 1) * float(running) - batch * self.previous
        self.previous = float(running)
        self.step += 1
        return value


@register_probe
def steps_to_accuracy(data: ProbeData, threshold: float = 0.9, smoothing: int = 20, every: int = 10):
    """The first training step at which the smoothed per-batch training accuracy reaches ``threshold``
    (``probe.steps_to_accuracy``; absent if never), and the smoothed curve (``probe.train_accuracy_ema``)."""
    return _StepsToAccuracy(threshold, smoothing, every)


class _StepsToAccuracy(_PerBatch):
    def __init__(self, threshold, smoothing, every):
        super().__init__()
        self.threshold, self.alpha, self.every = threshold, 2.0 / (smoothing + 1), every
        self.ema, self.reached, self.curve = None, None, []

    def on_train_batch_end(self, batch, logs=None):
        value = self.batch_value(batch, logs, "accuracy")
        if value is None:
            return
        self.ema = value if self.ema is None else self.ema + self.alpha * (value - self.ema)
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


class _BatchLoss(_PerBatch):
    def __init__(self, every):
        super().__init__()
        self.every, self.curve = every, []

    def on_train_batch_end(self, batch, logs=None):
        value = self.batch_value(batch, {"loss": np.nan, **(logs or {})}, "loss")
        if self.step % self.every == 0 or self.step == 1:
            self.curve.append((self.step, value))

    def on_train_end(self, logs=None):
        tracking.log_series("probe.batch_loss", self.curve)


@register_probe
def epochs_to_accuracy(data: ProbeData, threshold: float = 0.85, window: float = 0.25, every: int = 10):
    """The first point, in epochs, at which the training accuracy of the last ``window`` of an epoch's
    batches (a plain mean, no smoothing lag beyond the window) reaches ``threshold``
    (``probe.epochs_to_accuracy``, absent if never; ``probe.epochs_run``), as Krizhevsky et al. count
    epochs to a training error; the windowed curve as ``probe.train_accuracy_window``."""
    return _EpochsToAccuracy(threshold, window, every)


class _EpochsToAccuracy(_PerBatch):
    def __init__(self, threshold, window, every):
        super().__init__()
        self.threshold, self.window, self.every = threshold, window, every
        self.reached, self.curve, self.recent = None, [], []

    def on_train_batch_end(self, batch, logs=None):
        value = self.batch_value(batch, logs, "accuracy")
        if value is None:
            return
        per_epoch = self.params.get("steps") or 1
        size = max(1, round(self.window * per_epoch))
        self.recent = (self.recent + [value])[-size:]
        mean = sum(self.recent) / len(self.recent)
        if self.reached is None and len(self.recent) == size and mean >= self.threshold:
            self.reached = self.step / per_epoch
        if self.step % self.every == 0:
            self.curve.append((self.step, mean))

    def on_train_end(self, logs=None):
        per_epoch = self.params.get("steps") or 1
        tracking.log_series("probe.train_accuracy_window", self.curve)
        tracking.log_metrics({"probe.accuracy_threshold": self.threshold, "probe.epochs_run": self.step / per_epoch,
                              "probe.epochs_to_accuracy": self.reached})
