"""A live bar within each training epoch, on a terminal only.

rich (already a dependency of Keras, well kept, and it draws the bar on stderr while other lines go on
printing above it) shows batches done, images per second, the time left and the running loss and
accuracy; when the epoch ends the bar goes and the epoch's summary line (``EpochEcho``) stays. Where
output is not a terminal (CI, logs, pipes) nothing is drawn and only the per-epoch lines are written.
"""
from __future__ import annotations

import os
import sys

import keras


def wanted(stream=None) -> bool:
    """Bars only on an interactive terminal, and not when ``TRAINLAB_QUIET`` is set."""
    stream = stream or sys.stderr
    return stream.isatty() and os.environ.get("TRAINLAB_QUIET", "") in ("", "0") and os.environ.get("TERM") != "dumb"


class EpochBar(keras.callbacks.Callback):
    """The bar of the current epoch: ``steps`` batches of ``batch_size`` images."""

    def __init__(self, steps: int, batch_size: int):
        super().__init__()
        self.steps, self.batch_size = steps, batch_size
        self.progress = self.task = None

    def on_train_begin(self, logs=None):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[running]}"),
                                 console=Console(file=sys.stderr), transient=True)
        self.progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        self.task = self.progress.add_task(f"epoch {epoch + 1}/{self.params['epochs']}", total=self.steps,
                                           rate="", running="")

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        running = "  ".join(f"{k} {float(logs[k]):.4f}" for k in ("loss", "accuracy") if k in logs)
        self.progress.update(self.task, completed=batch + 1, running=running)
        speed = self.progress.tasks[-1].speed
        if speed:
            self.progress.update(self.task, rate=f"{speed * self.batch_size:,.0f} img/s")

    def on_epoch_end(self, epoch, logs=None):
        self.progress.remove_task(self.task)
        self.progress.refresh()  # an empty bar region: the epoch's summary line is written on a clean line

    def on_train_end(self, logs=None):
        self.stop()

    def stop(self) -> None:
        """Take the bar down (also when training ends in an exception: the terminal gets its cursor back)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
