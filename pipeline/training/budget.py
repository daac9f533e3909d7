"""Training to a time budget (``train.time_budget``): the number of epochs comes from the measured speed,
so that the learning-rate schedule (warm-up, cosine, one-cycle, step) completes inside the budget and
ends at its planned final rate.

The schedule is built for ``train.epochs`` as usual and run through :class:`Stretched`, which maps the
optimizer's step onto it: with ``planned`` epochs instead of ``train.epochs``, step ``s`` reads the
schedule at ``s * train.epochs / planned``, so the last planned step reads its last step. The plan:

- after the first few steps (their speed, tracing excluded; validation estimated from it), the
  epochs that fit in the budget;
- at the end of every epoch, again from that epoch's own time (training and validation; in the first
  epoch a process trains, less the one-time tracing of its first steps and first validation batch): a
  machine that slows down gets fewer epochs and the rest of the schedule is compressed to fit; training
  stops early only when less than one epoch's time is left.

Training time is the fit's: first step to the end of the last epoch, validation included (loading,
test and logging are outside it). A resumed run counts the time its checkpoint already trained and
continues the same plan. Each epoch logs ``budget_epochs`` (the plan) and ``budget_epoch_seconds``.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import keras
import tensorflow as tf
from keras import ops

from ..config.sizes import parse_duration
from .optim import make_schedule


@keras.saving.register_keras_serializable(package="trainlab")
class Stretched(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule`` read at ``step * ratio``: ``ratio`` (a variable, set while training) is the schedule's
    planned epochs over the epochs the budget allows."""

    def __init__(self, schedule, ratio: float = 1.0):
        self.schedule = schedule
        self.ratio = keras.Variable(float(ratio), trainable=False, name="budget_ratio", dtype="float32")

    def __call__(self, step):
        return self.schedule(ops.cast(step, "float32") * self.ratio)

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule), "ratio": float(self.ratio.numpy())}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["ratio"])


class TimeBudget(keras.callbacks.Callback):
    """Plans the epochs that fit in ``seconds`` of training and stops there (module docstring).

    ``nominal_epochs``: the epochs the schedule was built for; ``spent``: seconds already trained (a
    resumed run); ``planned``: the plan a resumed run continues; ``val_steps``: validation batches per
    epoch; ``clock``: seconds now (``time.perf_counter``; the tests' clock counts the work done instead).
    ``fit`` is called with more epochs than any plan (:data:`MAX_EPOCHS`); this callback ends it.
    """

    MAX_EPOCHS = 100_000
    WARM = 3       # steps left out of the first measurement: tracing and the first batches
    MEASURED = 10  # steps timed for the first plan

    def __init__(self, seconds: float, nominal_epochs: int, steps_per_epoch: int, val_steps: int,
                 schedule: Stretched | None = None, spent: float = 0.0, planned: int | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        super().__init__()
        self.clock = clock
        self.budget, self.nominal, self.steps, self.val_steps = seconds, nominal_epochs, steps_per_epoch, val_steps
        self.schedule, self.spent, self.planned = schedule, spent, planned
        self.step_seconds: float | None = None

    def on_train_begin(self, logs=None):
        self.began = self.clock()
        if self.planned:
            self._plan(self.planned)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_began, self.mark, self.tests = self.clock(), None, []

    def on_train_batch_end(self, batch, logs=None):
        if self.step_seconds is not None or batch < self.WARM:  # measured once per process, in its first epoch
            return
        if self.mark is None:
            self.mark = (batch, self.clock())
        elif batch - self.mark[0] >= self.MEASURED or batch == self.steps - 1:
            self.step_seconds = (self.clock() - self.mark[1]) / (batch - self.mark[0])
            if not self.planned:
                epoch_seconds = self.step_seconds * (self.steps + self.val_steps / 3)  # forward only: ~1/3 of a step
                self._plan(self._fits(epoch_seconds, done=0))

    def on_test_begin(self, logs=None):
        self.tests = [self.clock()]

    def on_test_batch_end(self, batch, logs=None):
        self.tests.append(self.clock())

    def _tracing(self) -> float:
        """Seconds of this epoch that were one-time work (tracing the train and validation steps), when it is
        the epoch that measured the steady step time; 0 otherwise."""
        if self.mark is None or self.step_seconds is None:
            return 0.0
        first_steps = self.mark[1] - self.epoch_began  # batches 0..mark, the first ones traced
        extra = max(0.0, first_steps - (self.mark[0] + 1) * self.step_seconds)
        batches = [b - a for a, b in zip(self.tests, self.tests[1:])]
        if batches:  # the first validation batch against a steady one (or a forward pass: ~1/3 of a step)
            steady = statistics.median_high(batches[1:]) if len(batches) > 1 else self.step_seconds / 3
            extra += max(0.0, batches[0] - steady)
        return extra

    def on_epoch_end(self, epoch, logs=None):
        epoch_seconds = self.clock() - self.epoch_began - self._tracing()
        self.mark = None
        planned = self._fits(epoch_seconds, done=epoch + 1)
        self._plan(planned)
        if logs is not None:
            logs.update(budget_epochs=float(planned), budget_epoch_seconds=epoch_seconds)
        if epoch + 1 >= planned:
            self.model.stop_training = True

    def _fits(self, epoch_seconds: float, done: int) -> int:
        """``done`` epochs plus as many more of ``epoch_seconds`` as the rest of the budget holds (at least
        one epoch in all)."""
        left = self.budget - self.spent - (self.clock() - self.began)
        return max(1, done + int(max(0.0, left) // epoch_seconds))

    def _plan(self, epochs: int) -> None:
        self.planned = epochs
        if self.schedule is not None:
            self.schedule.ratio.assign(self.nominal / epochs)
        self.params["epochs"] = epochs  # what the epoch lines show as the total (a dict the callbacks share)


def budgeted(plan, val_ds: tf.data.Dataset, state: dict | None = None):
    """The plan's schedule stretched to the epochs ``train.time_budget`` allows (a constant rate stays as it
    is), and the :class:`TimeBudget` that plans them; ``state``: a resumed run's checkpoint state, whose plan
    it continues and whose training seconds it counts."""
    t = plan.config.train
    schedule = make_schedule(t, plan.steps_per_epoch, plan.effective_learning_rate)
    stretched = Stretched(schedule) if not isinstance(schedule, float) else None
    planned = ((state or {}).get("history", {}).get("budget_epochs") or [None])[-1]
    val_steps = int(val_ds.cardinality())
    budget = TimeBudget(parse_duration(t.time_budget), t.epochs, plan.steps_per_epoch,
                        val_steps if val_steps > 0 else max(1, plan.val_size // t.batch_size), stretched,
                        spent=(state or {}).get("train_seconds", 0.0), planned=int(planned) if planned else None)
    return (stretched if stretched is not None else schedule), budget
