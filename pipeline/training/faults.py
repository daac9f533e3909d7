"""Stopping cleanly: SIGTERM, SIGHUP and Ctrl-C as one exception, and resource failures as one line.

``docker stop``, systemd, Kubernetes and batch schedulers send SIGTERM; a closed terminal sends
SIGHUP. Python's default for both is to die on the spot, leaving the MLflow run RUNNING for ever.
Under :func:`signals_as_interrupts` they raise :class:`Interrupted` (a ``KeyboardInterrupt``, so every
handler of Ctrl-C handles them too). While :func:`graceful` is active (training), the first signal
only asks to stop: ``callbacks.StopOnSignal`` raises at the next batch boundary, after the last finished
epoch's checkpoint; a second signal raises at once.
"""
from __future__ import annotations

import contextlib
import errno
import signal
import threading
from typing import Iterator

from ..errors import TrainlabError

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop by ``signum``; the CLI exits with ``128 + signum``."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class ResourceError(TrainlabError):
    """Memory, disk or the tracking store ran out or went away."""


_state = threading.local()


def _graceful() -> list | None:
    return getattr(_state, "pending", None)


def _handle(signum, frame):
    pending = _graceful()
    if pending is not None and not pending:
        pending.append(signum)  # stop at the next batch boundary
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` in this (main) thread; restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in HANDLED}
    for s in HANDLED:
        signal.signal(s, _handle)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def graceful() -> Iterator[list]:
    """Inside, the first signal is only recorded (``callbacks.StopOnSignal`` acts on it); yields that record."""
    outer = _graceful()
    _state.pending = pending = []
    try:
        with signals_as_interrupts():
            yield pending
    finally:
        _state.pending = outer


def resource_error(e: BaseException, doing: str, fix: str = "") -> ResourceError | None:
    """A one-line :class:`ResourceError` for memory and disk exhaustion, else None."""
    import tensorflow as tf  # not at the CLI's start (which imports this module)
    if isinstance(e, (tf.errors.ResourceExhaustedError, MemoryError)):
        return ResourceError(f"out of memory {doing}" + (f": {fix}" if fix else ""))
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceError(f"disk full {doing}" + (f" ({e.filename})" if e.filename else "")
                             + ": free some space and run again")
    return None
