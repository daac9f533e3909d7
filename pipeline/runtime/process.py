"""What a trainlab command sets up for its own process when it starts, never at import: quiet
TensorFlow start-up, MLflow's log levels and progress bars.

A notebook that imports trainlab keeps its own logging, warnings and matplotlib backend; the
``trainlab`` command, its sweep workers and its export subprocess call :func:`setup` first.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile

from trainlab import compat

VERBOSE_ENV = "TRAINLAB_VERBOSE"  # 1: show TensorFlow's C++ start-up lines (as --verbose does)

# TensorFlow's C++ start-up lines: absl's and TSL's (I/W/E + date), the CPU feature notice, absl's
# note on logging before InitializeLog. Anything else written at start-up is shown.
_STARTUP_NOISE = re.compile(r"^([IWE]\d{4} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] |"
                            r"WARNING: All log messages before absl::InitializeLog|"
                            r"To enable the following instructions:)")


def setup(verbose: bool | None = None, tensorflow: bool = True) -> None:
    """Set up this process for a trainlab command.

    Args:
        verbose: show TensorFlow's start-up lines; None reads ``$TRAINLAB_VERBOSE``.
        tensorflow: load TensorFlow now (quietly unless verbose); commands that never use it skip this.
    """
    if verbose is None:
        verbose = os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow sets its loggers' level from this variable when it is imported (later, by the stages).
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    logging.getLogger("alembic").setLevel(logging.INFO if verbose else logging.WARNING)
    # A store that fails mid-run is reported in one line (tracking.run); MLflow would log its traceback too.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.NOTSET if verbose else logging.CRITICAL)
    # A tracking server that went away: give up after a few tries instead of MLflow's minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    if tensorflow and not verbose:
        load_tensorflow_quietly()


def load_tensorflow_quietly() -> None:
    """Import TensorFlow and find its devices with the C++ start-up lines held back.

    Those lines (``I0000 ... oneDNN custom operations are on``, ``E0000 ... failed call to cuInit`` on
    every machine without a GPU) are written by C++ straight to file descriptor 2 while TensorFlow
    loads and when it first looks for devices, before any setting of TensorFlow's own takes effect
    (``TF_CPP_MIN_LOG_LEVEL`` does not hide them in TF 2.21). They go to a temporary file instead;
    whatever else was written there (a real error) is passed on.
    """
    if "tensorflow" in sys.modules:
        return
    with native_stderr_held(_STARTUP_NOISE):
        import tensorflow as tf  # after the environment it reads at import is set
        tf.config.list_physical_devices()  # device discovery prints the cuInit line


# What the C++ image decoders write while a folder is decoded: TensorFlow's log lines and libjpeg's and
# libpng's complaints about damaged files (which are skipped and named by the caller).
DECODER_NOISE = re.compile(_STARTUP_NOISE.pattern + r"|^(Improper call to JPEG library|Premature end of JPEG|"
                           r"Corrupt JPEG data|Invalid SOS|Bogus |Not a JPEG file|Unsupported marker|libpng )")


@contextlib.contextmanager
def native_stderr_held(noise: re.Pattern):
    """File descriptor 2 goes to a temporary file for the block (C++ writes there directly, past Python's
    sys.stderr); afterwards the lines that ``noise`` does not match are passed on. Python's ``sys.stderr``
    keeps writing to the terminal meanwhile (a progress bar started inside the block draws there)."""
    sys.stderr.flush()
    saved, python_stderr = os.dup(2), sys.stderr
    with tempfile.TemporaryFile() as held:
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, errors="replace")
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.close()
            sys.stderr = python_stderr
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode(errors="replace").splitlines()
                    if line.strip() and not noise.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


@contextlib.contextmanager
def op_determinism(on: bool):
    """TF op determinism for the duration of a training (``train.deterministic``), then as it was: it is
    a process-wide switch, and a notebook or test process goes on to train other things."""
    if not on:
        yield
        return
    import tensorflow as tf  # after the environment it reads at import is set
    was = compat.op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was:
            compat.disable_op_determinism()
