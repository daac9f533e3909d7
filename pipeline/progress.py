"""Live bars on a terminal only: within each training epoch, and for long steps (sweep points, data
decoding, lr-find, export).

rich (already a dependency of Keras, well kept, and it draws the bars on stderr while other lines go on
printing above them) shows what is done, the rate, the time left and a note (running loss and accuracy,
the last point's result); when a bar's work ends it goes and the summary line stays. Bars nest: one
display holds them all (a sweep's bar above the epoch bar of the point it trains). Where output is not
a terminal (CI, logs, pipes) or with ``--quiet`` nothing is drawn and only the lines are written.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Callable, Iterator

import keras

_display = None   # the one live rich Progress while any bar is up
_users = 0        # bars using it
_lock = threading.Lock()


def wanted(stream=None) -> bool:
    """Bars only on an interactive terminal, and not when ``TRAINLAB_QUIET`` is set."""
    stream = stream or sys.stderr
    return stream.isatty() and os.environ.get("TRAINLAB_QUIET", "") in ("", "0") and os.environ.get("TERM") != "dumb"


def _columns():
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(), TextColumn("{task.fields[running]}"))


@contextlib.contextmanager
def _shared_display():
    """The live display, started by the first bar up and stopped when the last one ends (bars may come
    and go from several threads: a search's trials)."""
    global _display, _users
    with _lock:
        if _display is None:
            from rich.console import Console
            from rich.progress import Progress
            _display = Progress(*_columns(), console=Console(file=sys.stderr), transient=True)
            _display.start()
        _users += 1
        display = _display
    try:
        yield display
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _display.stop()
                _display = None


@contextlib.contextmanager
def bar(description: str, total: int | None, unit: str = "") -> Iterator[Callable[..., None]]:
    """A bar for ``total`` pieces of work; yields ``advance(n=1, note="")``. Draws nothing (and costs
    nothing) off a terminal. ``unit``: shown as a rate (``12.3 files/s``) when given."""
    if not wanted():
        yield lambda n=1, note="": None
        return
    with _shared_display() as display:
        task = display.add_task(description, total=total, rate="", running="")

        def advance(n: int = 1, note: str = "") -> None:
            display.update(task, advance=n, running=note)
            speed = next(t for t in display.tasks if t.id == task).speed
            if unit and speed:
                display.update(task, rate=f"{speed:,.1f} {unit}/s")
        try:
            yield advance
        finally:
            display.remove_task(task)
            display.refresh()


class EpochBar(keras.callbacks.Callback):
    """The bar of the current epoch: ``steps`` batches of ``batch_size`` images (async-safe: rich's
    display is thread-safe, and Keras then updates it off the training thread)."""

    async_safe = True

    def __init__(self, steps: int, batch_size: int):
        super().__init__()
        self.steps, self.batch_size = steps, batch_size
        self.progress = self.task = self._display = None

    def on_train_begin(self, logs=None):
        self._display = _shared_display()
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


def say(line: str) -> None:
    """A one-off line for the person at the terminal (a cache being rebuilt, and why), on stderr: stdout
    stays the command's own output. Shown with ``--quiet`` too: it explains a wait."""
    print(line, file=sys.stderr, flush=True)
