"""Training runs: the run context, params/metrics/figures, the logged model and finding it again."""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import socket
import time
import warnings
from importlib.metadata import version
from typing import TYPE_CHECKING, Iterator

import mlflow
import mlflow.data
import numpy as np
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import Schema, TensorSpec

from trainlab import compat

from ..errors import TrackingError
from . import logged_model
from .store import one_line, quiet

if TYPE_CHECKING:  # the store's functions take and return Keras models; the registry's never load Keras
    import keras

MODEL_NAME = "model"                    # the logged model's name inside each run
MODEL_URI_TAG = "trainlab.model_uri"
CARD = "model_card.md"                  # the run's model card artifact
HOST_TAG, PID_TAG = "trainlab.host", "trainlab.pid"  # who owns a RUNNING run: host, and "pid:start time"


@contextlib.contextmanager
def run(experiment_id: str, run_name: str | None = None, tags: dict | None = None,
        resume: str | None = None) -> Iterator[str]:
    """A tracked run; yields its id. Ends FINISHED, FAILED (with the reason as a tag) or KILLED
    (Ctrl-C, SIGTERM, SIGHUP).

    ``tags`` are set when the run starts (sweeps tag their points and name the parent run);
    ``resume`` reopens that run instead of starting one. The run records the host and process that
    own it, so a run left RUNNING by a dead process can be told from one in progress. A store that
    fails mid-run becomes a :class:`TrackingError` (the run is marked FAILED if the store still takes it).
    """
    if resume:
        active = mlflow.start_run(run_id=resume)
    else:
        active = mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                                  tags={k: str(v) for k, v in (tags or {}).items()})
    mlflow.set_tags({HOST_TAG: socket.gethostname(), PID_TAG: f"{os.getpid()}:{process_start(os.getpid())}"})
    try:
        yield active.info.run_id
    except KeyboardInterrupt as e:
        _end("KILLED", str(e) or "interrupted by the user")
        raise
    except BaseException as e:
        _end("FAILED", one_line(e) or type(e).__name__)
        if isinstance(e, MlflowException):
            raise TrackingError(f"tracking store {mlflow.get_tracking_uri()} failed during run "
                                f"{active.info.run_id}: {_root_cause(e)}; the run's checkpoint is kept: once "
                                "the store is back, trainlab train --resume continues it") from None
        raise
    else:
        mlflow.end_run(status="FINISHED")


def process_start(pid: int) -> str:
    """When a process started (clock ticks since boot, from /proc): with the pid it names one process,
    even after a reboot or once the pid is reused. Empty where /proc is absent."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _root_cause(e: BaseException) -> str:
    """The innermost cause's message (sqlite's "attempt to write a readonly database", not the SQL)."""
    while (e.__cause__ or e.__context__) is not None:
        e = e.__cause__ or e.__context__
    if isinstance(e, OSError) and e.strerror:
        return e.strerror  # "Connection refused", not errno 111
    text = str(e.args[0]) if e.args else str(e)
    return one_line(text.split("\n")[0]) or type(e).__name__


def _end(status: str, reason: str) -> None:
    """End the active run as ``status``; if the store is gone, forget the run all the same."""
    try:
        mlflow.set_tag("trainlab.status_reason", reason)
        mlflow.end_run(status=status)
    except Exception:
        compat.forget_active_run()  # MLflow keeps the run active when end_run fails


def active_run_id() -> str:
    return mlflow.active_run().info.run_id


def log_params(params: dict) -> None:
    """Log params in chunks (MLflow caps a batch at 100)."""
    items = [(k, "None" if v is None else str(v)) for k, v in params.items()]
    for i in range(0, len(items), 100):
        mlflow.log_params(dict(items[i:i + 100]))


def log_metrics(metrics: dict, step: int | None = None) -> None:
    mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))},
                       step=step)


def log_series(key: str, points: list[tuple[int, float]]) -> None:
    """Log many steps of one metric in few calls (per-layer or per-batch measurements)."""

    run_id, now = mlflow.active_run().info.run_id, int(time.time() * 1000)
    metrics = [Metric(key, float(v), now, int(step)) for step, v in points if math.isfinite(float(v))]
    for i in range(0, len(metrics), 1000):
        MlflowClient().log_batch(run_id, metrics=metrics[i:i + 1000], synchronous=True)


def set_tags(tags: dict) -> None:
    mlflow.set_tags({k: str(v) for k, v in tags.items()})


def log_datasets(name: str, source: str, parts: dict) -> None:
    """Log each split as an MLflow dataset input (name, digest, source, tensor schema), with its
    split as the context (``training``, ``validation``, ``test``): the UI's Datasets panel shows them
    and ``search_runs`` filters on ``dataset.digest``. ``parts``: context -> (images, labels)."""
    for context, (images, labels) in parts.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "the source can be interpreted in multiple ways": it is a local one
            if hasattr(images, "fingerprint"):  # streamed from disk: described, not read
                dataset = _described_dataset(images, labels, source, f"{name}-{context}")
            else:
                try:
                    dataset = mlflow.data.from_numpy(images, targets=labels, source=source, name=f"{name}-{context}")
                except MlflowException:  # a source MLflow cannot place (a URL scheme it does not know)
                    dataset = mlflow.data.from_numpy(images, targets=labels, name=f"{name}-{context}")
        mlflow.log_input(dataset, context=context)


def _described_dataset(images, labels, source: str, name: str):
    """An MLflow dataset of images streamed from disk: their source, schema and a digest of what they are
    (the files and the split), without decoding them."""

    digest = hashlib.sha256((images.fingerprint() + str(labels.tolist())).encode()).hexdigest()[:8]
    schema = Schema([TensorSpec(np.dtype(np.uint8), (-1, *images.shape[1:]), "images"),
                     TensorSpec(np.dtype(np.int64), (-1,), "targets")])
    return MetaDataset(resolve_dataset_source(source), name=name, digest=digest, schema=schema)


def log_text(text: str, filename: str) -> None:
    mlflow.log_text(text, filename)


def run_text(run_id: str, filename: str) -> str | None:
    """A text artifact of a run, or None if it has none."""
    try:
        return mlflow.artifacts.load_text(f"runs:/{run_id}/{filename}")
    except Exception:
        return None


def describe_run(text: str) -> None:
    """The run's description in the MLflow UI."""
    mlflow.set_tag("mlflow.note.content", text)


def log_figure(figure, filename: str) -> None:
    """Log a matplotlib figure as a PNG artifact."""
    mlflow.log_figure(figure, filename)


def log_dict(data: dict, filename: str) -> None:
    mlflow.log_dict(data, filename)


def log_model(model: keras.Model, num_classes: int) -> str:
    """Log a raw-pixel Keras model with its signature (no input_example: MLflow's keras flavor trips on it)."""
    shape = (-1, *model.input_shape[1:])
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), shape, "image")]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, num_classes), "probabilities")]))
    with quiet():  # MLflow's Keras flavor, with trainlab's code for its pyfunc loader (logged_model.py)
        info = Model.log(artifact_path=None, name=MODEL_NAME, flavor=logged_model, flavor_name="keras", model=model,
                         signature=signature, pip_requirements=_requirements())
    mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    return info.model_uri


def _requirements() -> list[str]:
    """What the model needs, pinned to what trained it. Stated, because MLflow's inference of
    requirements loads the model in a subprocess and costs seconds per run."""
    return [f"{p}=={version(p)}" for p in ("mlflow", "tensorflow", "keras", "numpy")]


def run_metrics(run_id: str) -> dict[str, float]:
    """The final value of each metric a run logged."""
    return dict(mlflow.get_run(run_id).data.metrics)


def run_params(run_id: str) -> dict[str, str]:
    """The params a run logged (as MLflow keeps them: strings)."""
    return dict(mlflow.get_run(run_id).data.params)


def run_model_uri(run_id: str) -> str:
    """The URI of the model a run logged (MLflow 3 keeps logged models apart from run artifacts)."""
    try:
        return MlflowClient().get_run(run_id).data.tags.get(MODEL_URI_TAG) or f"runs:/{run_id}/{MODEL_NAME}"
    except MlflowException:
        raise TrackingError(f"no run with id {run_id!r} in {mlflow.get_tracking_uri()}") from None


def load_model(uri: str) -> keras.Model:
    """Load a logged Keras model by URI (``runs:/...``, ``models:/NAME@champion``, a path)."""
    import trainlab.models  # noqa: F401  registers trainlab's custom layers (maxout, fractional pooling) for loading
    try:
        return mlflow.keras.load_model(uri)
    except Exception as e:
        raise TrackingError(f"cannot load model {uri}: {one_line(e)}") from None


def search_runs(experiment_id: str, statuses: tuple[str, ...]) -> list:
    """The experiment's runs in these statuses, newest first."""
    runs = MlflowClient().search_runs([experiment_id], "attributes.status != 'FINISHED'" if "FINISHED" not in statuses
                                      else "", order_by=["attributes.start_time DESC"], max_results=1000)
    return [r for r in runs if r.info.status in statuses]  # MLflow's filter has no OR


def run_status(run_id: str) -> str:
    try:
        return MlflowClient().get_run(run_id).info.status
    except MlflowException:
        raise TrackingError(f"no run with id {run_id!r} in {mlflow.get_tracking_uri()}") from None


def run_owner(run_id: str) -> str:
    tags = MlflowClient().get_run(run_id).data.tags
    return f"{tags.get(PID_TAG, '?')} on {tags.get(HOST_TAG, '?')}"


def latest_finished_run(experiment_id: str) -> str:
    """The newest finished training run: one that tested a model (``test_accuracy``), so never an
    lr-find run or a sweep's parent."""
    runs = MlflowClient().search_runs([experiment_id], "attributes.status = 'FINISHED' and metrics.test_accuracy >= 0",
                                      order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        raise TrackingError("no finished training run yet: run trainlab train first")
    return runs[0].info.run_id

