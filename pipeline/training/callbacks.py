"""Keras callbacks of the training stage: stop on a signal, divergence guard, best-epoch keeper with
early stopping, the epoch counter of the input pipeline, the mixing switch and the terminal echo."""
from __future__ import annotations

import time
from typing import Callable

import keras
import numpy as np

from trainlab.augment import AugmentChain

from .. import progress, tracking
from ..tracking.model_registry import outranks
from .faults import Interrupted


class StopOnSignal(keras.callbacks.Callback):
    """Raises :class:`Interrupted` at the first batch boundary after a signal arrived under
    ``faults.graceful()``: no epoch-end callback sees the unfinished epoch (nothing logs or checkpoints it).

    Async-safe: Keras then runs batch-end hooks on a helper thread instead of waiting for each step's logs
    on the training thread; the exception reaches the training thread at the next batch or epoch end."""

    async_safe = True

    def __init__(self, pending: list):
        super().__init__()
        self.pending = pending

    def _check(self, *_, **__):
        if self.pending:
            raise Interrupted(self.pending[0])

    on_train_batch_end = on_test_batch_end = on_epoch_begin = _check


class EpochCounter(keras.callbacks.Callback):
    """Sets the input pipeline's epoch variable as each epoch begins (shuffle and augmentation seeds
    derive from it: see ``inputs.make_dataset``)."""

    def __init__(self, variable):
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(epoch)


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first NaN/inf batch loss and remembers why (async-safe: checked on Keras's
    helper thread, so the training thread does not wait for every step's loss; it stops a step later)."""

    async_safe = True
    reason: str | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.reason = f"loss became {loss} at epoch {self.epoch + 1}, batch {batch + 1}"
            self.model.stop_training = True


class KeepBest(keras.callbacks.Callback):
    """Tracks the best epoch on a validation metric (higher is better; a tie goes to the lower validation
    loss, so a run whose accuracy saturates keeps its most confident epoch), restores its weights at the
    end, and stops early after ``patience`` epochs without improvement by that same rule (0: never)."""

    def __init__(self, monitor: str, patience: int = 0, source: Callable[[], list] | None = None,
                 tie_break: str = "val_loss"):
        super().__init__()
        self.monitor, self.patience, self.source = monitor, patience, source  # source: the weights to keep
        self.tie_break = tie_break
        self.epoch, self.value, self.loss, self.weights, self.stopped_epoch = -1, -np.inf, None, None, None

    def resume(self, state: dict, weights) -> None:
        """Continue from a checkpoint's counters and best weights."""
        self.epoch, self.weights, self.stopped_epoch = state["best_epoch"], weights, state.get("stopped_epoch")
        self.value = -np.inf if state.get("best_value") is None else state["best_value"]
        self.loss = state.get("best_loss")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value, loss = logs.get(self.monitor), logs.get(self.tie_break)
        loss = None if loss is None else float(loss)
        if value is not None and outranks(float(value), loss, self.value, self.loss):
            self.epoch, self.value, self.loss = epoch, float(value), loss
            self.weights = self.source() if self.source else self.model.get_weights()
        elif self.patience and epoch - self.epoch >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.weights is not None:
            self.model.set_weights(self.weights)


class MixingSwitch(keras.callbacks.Callback):
    """Turns mixup/cutmix off from epoch ``off_from_epoch`` on (clean labels for the last epochs)."""

    def __init__(self, chain: AugmentChain, off_from_epoch: int):
        super().__init__()
        self.chain, self.off_from_epoch = chain, off_from_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.chain.mixing.assign(epoch < self.off_from_epoch)


class EpochEcho(keras.callbacks.Callback):
    """One line per epoch on the terminal."""

    def __init__(self, echo: Callable[[str], None]):
        super().__init__()
        self.echo, self.start = echo, time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        shown = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
        self.echo(f"epoch {epoch + 1}/{self.params['epochs']}  {shown}  ({time.perf_counter() - self.start:.1f}s)")


class EpochBar(keras.callbacks.Callback):
    """The bar of the current epoch: ``steps`` batches of ``batch_size`` images (async-safe: rich's
    display is thread-safe, and Keras then updates it off the training thread)."""

    async_safe = True

    def __init__(self, steps: int, batch_size: int):
        super().__init__()
        self.steps, self.batch_size = steps, batch_size
        self.progress = self.task = self._display = None

    def on_train_begin(self, logs=None):
        self._display = progress.shared_display()
        self.progress = self._display.__enter__()

    def on_epoch_begin(self, epoch, logs=None):
        self.task = self.progress.add_task(f"epoch {epoch + 1}/{self.params['epochs']}", total=self.steps,
                                           rate="", running="")

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        running = "  ".join(f"{k} {float(logs[k]):.4f}" for k in ("loss", "accuracy") if k in logs)
        self.progress.update(self.task, completed=batch + 1, running=running)
        speed = next(t for t in self.progress.tasks if t.id == self.task).speed
        if speed:
            self.progress.update(self.task, rate=f"{speed * self.batch_size:,.0f} img/s")

    def on_epoch_end(self, epoch, logs=None):
        self.progress.remove_task(self.task)
        self.progress.refresh()  # an empty bar region: the epoch's summary line is written on a clean line

    def on_train_end(self, logs=None):
        self.stop()

    def stop(self) -> None:
        """Take the bar down (also when training ends in an exception: the terminal gets its cursor back)."""
        if self._display is not None:
            if self.task is not None and self.task in {t.id for t in self.progress.tasks}:
                self.progress.remove_task(self.task)
            self._display.__exit__(None, None, None)
            self._display = self.progress = self.task = None


class EpochLogger(keras.callbacks.Callback):
    """Logs each epoch's train/validation metrics and learning rate, stepped by epoch number."""

    def on_epoch_end(self, epoch, logs=None):
        metrics = dict(logs or {})
        lr = getattr(self.model.optimizer, "learning_rate", None)
        if lr is not None:
            metrics["lr"] = float(keras.ops.convert_to_numpy(lr))
        tracking.log_metrics(metrics, step=epoch)
