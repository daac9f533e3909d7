"""Live bars on a terminal only: within each training epoch, and for long steps (sweep points, data
decoding, lr-find, export).

rich (already a dependency of Keras, well kept, and it draws the bars on stderr while other lines go on
printing above them) shows what is done, the rate, the time left and a note (running loss and accuracy,
the last point's result); when a bar's work ends it goes and the summary line stays. Bars nest: one
display holds them all (a sweep's bar above the epoch bar of the point it trains: training's
``callbacks.EpochBar`` draws on the same display). Where output is not
a terminal (CI, logs, pipes) or with ``--quiet`` nothing is drawn and only the lines are written.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

_display = None   # the one live rich Progress while any bar is up
_users = 0        # bars using it
_lock = threading.Lock()


def wanted(stream=None) -> bool:
    """Bars only on an interactive terminal, and not when ``TRAINLAB_QUIET`` is set."""
    stream = stream or sys.stderr
    return stream.isatty() and os.environ.get("TRAINLAB_QUIET", "") in ("", "0") and os.environ.get("TERM") != "dumb"


def _columns():
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(), TextColumn("{task.fields[running]}"))


@contextlib.contextmanager
def shared_display():
    """The live display, started by the first bar up and stopped when the last one ends (bars may come
    and go from several threads: a search's trials)."""
    global _display, _users
    with _lock:
        if _display is None:
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
    with shared_display() as display:
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


def say(line: str) -> None:
    """A one-off line for the person at the terminal (a cache being rebuilt, and why), on stderr: stdout
    stays the command's own output. Shown with ``--quiet`` too: it explains a wait."""
    print(line, file=sys.stderr, flush=True)
