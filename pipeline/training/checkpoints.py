"""Per-epoch checkpoints: everything a killed run needs to continue as if it had never stopped.

One file per run, ``<root>/<run id>/checkpoint.npz``, rewritten after every epoch: the model's
variables (weights, batch-norm statistics and the random-seed states of dropout), the optimizer's
variables (its iteration count included, so the schedule continues where it was), the best epoch's
weights, and a JSON state (epoch, early-stopping counters, history, seconds trained, the run's
config). Written to a temporary file and renamed over the old one, so a kill at any instant leaves
the previous or the new checkpoint, never a torn one.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from ..errors import DataError
from .faults import resource_error

FILENAME = "checkpoint.npz"
FORMAT = 1


def root_for(tracking_uri: str) -> Path:
    """Where a store's checkpoints live: beside a local store's database, else ``outputs/checkpoints``."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri[len("sqlite:///"):]).resolve().parent / "checkpoints"
    if tracking_uri.startswith("file://") or "://" not in tracking_uri:
        return Path(tracking_uri.removeprefix("file://")).resolve().parent / "checkpoints"
    return Path("outputs/checkpoints").resolve()


@dataclass
class Checkpoint:
    """The state after a finished epoch (``epoch`` is 0-based: the next epoch to run is ``epoch + 1``)."""

    epoch: int
    model: list[np.ndarray]
    optimizer: list[np.ndarray]
    best_weights: list[np.ndarray] | None
    state: dict = field(default_factory=dict)  # best_epoch, best_value, history, train_seconds, config, ...

    def save(self, path: Path) -> None:
        """Atomically replace ``path`` (temporary file in the same folder, fsync, rename)."""
        arrays = {f"model/{i}": v for i, v in enumerate(self.model)}
        arrays |= {f"optimizer/{i}": v for i, v in enumerate(self.optimizer)}
        arrays |= {f"best/{i}": v for i, v in enumerate(self.best_weights or [])}
        state = {**self.state, "format": FORMAT, "epoch": self.epoch, "has_best": self.best_weights is not None}
        arrays["state"] = np.frombuffer(json.dumps(state, default=str).encode(), np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise (resource_error(e, f"writing checkpoint {path}") or e) from None

    @classmethod
    def load(cls, path: Path) -> "Checkpoint":
        try:
            with np.load(path, allow_pickle=False) as z:
                state = json.loads(z["state"].tobytes())

                def group(prefix: str) -> list:
                    return [z[f"{prefix}/{i}"] for i in range(sum(k.startswith(prefix + "/") for k in z.files))]
                return cls(state["epoch"], group("model"), group("optimizer"),
                           group("best") if state.get("has_best") else None, state)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
            raise DataError(f"checkpoint {path} cannot be read: {e}") from None

    @staticmethod
    def peek(path: Path) -> dict:
        """The JSON state alone (the arrays stay on disk)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                return json.loads(z["state"].tobytes())
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
            raise DataError(f"checkpoint {path} cannot be read: {e}") from None

    @classmethod
    def capture(cls, model: keras.Model, epoch: int, best_weights, state: dict) -> "Checkpoint":
        optimizer = model.optimizer.variables if model.optimizer is not None else []
        return cls(epoch, [np.array(v) for v in model.variables], [np.array(v) for v in optimizer],
                   None if best_weights is None else list(best_weights), state)

    def restore(self, model: keras.Model) -> None:
        """Put the model's and its (built) optimizer's variables back as they were."""
        _assign(model.variables, self.model, "model")
        if model.optimizer is not None:
            model.optimizer.build(model.trainable_variables)
            _assign(model.optimizer.variables, self.optimizer, "optimizer")


def _assign(variables, values, what: str) -> None:
    if len(variables) != len(values):
        raise DataError(f"checkpoint holds {len(values)} {what} variables, the model has {len(variables)}: "
                        "it was written by a different model")
    for v, value in zip(variables, values):
        if tuple(v.shape) != value.shape:
            raise DataError(f"checkpoint {what} variable {v.path} has shape {value.shape}, expected {tuple(v.shape)}")
        v.assign(value)


class Checkpointer(keras.callbacks.Callback):
    """Writes the run's checkpoint after every finished epoch.

    ``keeper`` is the best-epoch keeper (its epoch, value and weights go in); ``state`` is the part
    of the JSON state that does not change (the run's config); ``history`` and ``seconds`` carry on
    from a resumed checkpoint.
    """

    def __init__(self, path: Path, keeper, state: dict, history: dict | None = None, seconds: float = 0.0):
        super().__init__()
        self.path, self.keeper, self.state = path, keeper, state
        self.history = {k: list(v) for k, v in (history or {}).items()}
        self.seconds, self.started = seconds, time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self.started
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        k = self.keeper
        state = {**self.state, "history": self.history, "train_seconds": self.seconds,
                 "best_epoch": k.epoch, "best_value": k.value if np.isfinite(k.value) else None, "best_loss": k.loss,
                 "stopped_epoch": k.stopped_epoch}
        Checkpoint.capture(self.model, epoch, k.weights, state).save(self.path)


def disk_usage(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
