"""An advisory lock between the processes of one machine: one of them builds what all of them share (a
new store's tables, a dataset's cache) while the others wait and then use it."""
from __future__ import annotations

import contextlib
import fcntl
from typing import Iterator


@contextlib.contextmanager
def file_lock(path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if missing) for every process on this machine."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
