"""The Keras peers' epoch timer: each epoch's training time split into its phases, test accuracy
measured outside it."""
from __future__ import annotations

import time
from typing import Callable

import keras


class EpochTimer(keras.callbacks.Callback):
    """Times every epoch from its start to the end of the last epoch-end hook before this one (put it
    last in fit's callbacks), in three phases: ``train`` (the training steps), ``validate`` (fit's own
    validation pass) and ``after`` (the other callbacks' epoch-end work: tracking, checkpoints, ...).
    ``test()`` then returns the test accuracy, outside the timed span."""

    def __init__(self, test: Callable[[], float]):
        super().__init__()
        self.test, self.seconds, self.accuracy = test, [], []
        self.phases = {"train": [], "validate": [], "after": []}
        self.start = None

    def on_epoch_begin(self, epoch, logs=None):
        self.validate_start = self.validate_end = None
        self.start = time.perf_counter()

    def on_test_begin(self, logs=None):
        if self.start is not None:
            self.validate_start = time.perf_counter()

    def on_test_end(self, logs=None):
        if self.start is not None:
            self.validate_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        end = time.perf_counter()
        train_end = self.validate_start or end
        validate_end = self.validate_end or train_end
        self.phases["train"].append(train_end - self.start)
        self.phases["validate"].append(validate_end - train_end)
        self.phases["after"].append(end - validate_end)
        self.seconds.append(end - self.start)
        self.start = None
        self.accuracy.append(float(self.test()))
