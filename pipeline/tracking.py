"""Everything MLflow: the store, runs and their logs, the model registry and its `champion` alias.

The rest of trainlab calls these functions and never imports mlflow itself.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import keras
import numpy as np

from pipeline.config import TrackingConfig
from pipeline.errors import TrackingError

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
import mlflow  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.models import ModelSignature  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from mlflow.types import Schema, TensorSpec  # noqa: E402

logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)

CHAMPION = "champion"
SELECTION_METRIC = "best_val_accuracy"  # higher is better; chosen on validation, never on test
MODEL_NAME = "model"                    # the logged model's name inside each run
MODEL_URI_TAG = "trainlab.model_uri"


def configure(cfg: TrackingConfig) -> str:
    """Point MLflow at the configured store and return the experiment's id.

    Raises:
        TrackingError: the store cannot be created or written.
    """
    uri = cfg.tracking_uri
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        folder = db.parent if str(db.parent) else Path(".")
        if not folder.is_dir():
            raise TrackingError(f"tracking store {uri}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
            raise TrackingError(f"tracking store {uri} is not writable")
        if db.exists():
            _check_sqlite(db, uri)
        uri = f"sqlite:///{db.resolve()}"  # MLflow caches stores by URI: a relative one would follow the first cwd
    mlflow.set_tracking_uri(uri)
    try:
        if uri.startswith("sqlite:///") and mlflow.get_experiment_by_name(cfg.experiment) is None:
            # Artifacts live beside the database, not in whatever folder the command ran from.
            artifacts = Path(uri[len("sqlite:///"):]).parent / "mlartifacts"
            mlflow.create_experiment(cfg.experiment, artifact_location=artifacts.resolve().as_uri())
        experiment = mlflow.set_experiment(cfg.experiment)
    except Exception as e:  # MLflow wraps sqlite/alembic errors in several types
        raise TrackingError(f"cannot open tracking store {uri}: {_one_line(e)}") from None
    return experiment.experiment_id


def _check_sqlite(db: Path, uri: str) -> None:
    """Fail fast on a store that is not an SQLite database (MLflow would retry for minutes)."""
    if not db.is_file():
        raise TrackingError(f"tracking store {uri}: {db} is not a file")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
            con.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as e:
        raise TrackingError(f"tracking store {uri} cannot be opened: {e}") from None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]


@contextlib.contextmanager
def run(experiment_id: str, run_name: str | None = None) -> Iterator[str]:
    """A tracked run; yields its id. Ends FINISHED, FAILED (with the reason as a tag) or KILLED (Ctrl-C)."""
    active = mlflow.start_run(experiment_id=experiment_id, run_name=run_name)
    try:
        yield active.info.run_id
    except KeyboardInterrupt:
        mlflow.set_tag("trainlab.status_reason", "interrupted by the user")
        mlflow.end_run(status="KILLED")
        raise
    except BaseException as e:
        mlflow.set_tag("trainlab.status_reason", _one_line(e) or type(e).__name__)
        mlflow.end_run(status="FAILED")
        raise
    else:
        mlflow.end_run(status="FINISHED")


def log_params(params: dict) -> None:
    """Log params in chunks (MLflow caps a batch at 100)."""
    items = [(k, "None" if v is None else str(v)) for k, v in params.items()]
    for i in range(0, len(items), 100):
        mlflow.log_params(dict(items[i:i + 100]))


def log_metrics(metrics: dict, step: int | None = None) -> None:
    mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))},
                       step=step)


def set_tags(tags: dict) -> None:
    mlflow.set_tags({k: str(v) for k, v in tags.items()})


def log_figure(figure, filename: str) -> None:
    mlflow.log_figure(figure, filename)


def log_dict(data: dict, filename: str) -> None:
    mlflow.log_dict(data, filename)


class EpochLogger(keras.callbacks.Callback):
    """Logs each epoch's train/validation metrics and learning rate, stepped by epoch number."""

    def on_epoch_end(self, epoch, logs=None):
        metrics = dict(logs or {})
        lr = getattr(self.model.optimizer, "learning_rate", None)
        if lr is not None:
            metrics["lr"] = float(keras.ops.convert_to_numpy(lr))
        log_metrics(metrics, step=epoch)


def log_model(model: keras.Model, num_classes: int) -> str:
    """Log a raw-pixel Keras model with its signature (no input_example: MLflow's keras flavor trips on it)."""
    shape = (-1, *model.input_shape[1:])
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), shape, "image")]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, num_classes), "probabilities")]))
    with _quiet():
        info = mlflow.keras.log_model(model, name=MODEL_NAME, signature=signature,
                                      pip_requirements=_requirements())
    mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    return info.model_uri


def _requirements() -> list[str]:
    """What the model needs, pinned to what trained it. Stated, because MLflow's inference of
    requirements loads the model in a subprocess and costs seconds per run."""
    from importlib.metadata import version
    return [f"{p}=={version(p)}" for p in ("mlflow", "tensorflow", "keras", "numpy")]


def run_model_uri(run_id: str) -> str:
    """The URI of the model a run logged (MLflow 3 keeps logged models apart from run artifacts)."""
    try:
        return MlflowClient().get_run(run_id).data.tags.get(MODEL_URI_TAG) or f"runs:/{run_id}/{MODEL_NAME}"
    except MlflowException:
        raise TrackingError(f"no run with id {run_id!r} in {mlflow.get_tracking_uri()}") from None


def load_model(uri: str) -> keras.Model:
    """Load a logged Keras model by URI (``runs:/...``, ``models:/NAME@champion``, a path)."""
    import models  # noqa: F401  registers trainlab's custom layers (maxout, fractional pooling) for loading
    try:
        return mlflow.keras.load_model(uri)
    except Exception as e:
        raise TrackingError(f"cannot load model {uri}: {_one_line(e)}") from None


def latest_finished_run(experiment_id: str) -> str:
    runs = MlflowClient().search_runs([experiment_id], "attributes.status = 'FINISHED'",
                                      order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        raise TrackingError("no finished training run yet: run trainlab train first")
    return runs[0].info.run_id


def champion(name: str) -> tuple[str, str, float] | None:
    """``(version, run_id, selection metric)`` of the current champion, or None."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    metric = client.get_run(version.run_id).data.metrics.get(SELECTION_METRIC, -math.inf)
    return str(version.version), version.run_id, metric


def champion_uri(name: str) -> str:
    if champion(name) is None:
        raise TrackingError(f"registered model {name!r} has no champion yet: run trainlab train --register "
                            "(or trainlab run) first, or pass --model-uri")
    return f"models:/{name}@{CHAMPION}"


@dataclass
class Registration:
    version: str
    promoted: bool
    message: str


def register(run_id: str, name: str) -> Registration:
    """Register the run's model; move `champion` to it only if it beats the champion on validation.

    Raises:
        TrackingError: the run is unknown, did not finish, or logged no model/selection metric.
    """
    client = MlflowClient()
    try:
        run_info = client.get_run(run_id)
    except MlflowException:
        raise TrackingError(f"no run with id {run_id!r} in {mlflow.get_tracking_uri()}") from None
    if run_info.info.status != "FINISHED":
        raise TrackingError(f"run {run_id} is {run_info.info.status}, not FINISHED: only finished runs "
                            "are registered")
    score = run_info.data.metrics.get(SELECTION_METRIC)
    if score is None:
        raise TrackingError(f"run {run_id} has no {SELECTION_METRIC} metric: it is not a trainlab training run")
    current = champion(name)
    version = _registered_version(name, run_id)
    if version is None:
        with _quiet():
            version = str(mlflow.register_model(run_model_uri(run_id), name).version)
    if current is not None and score <= current[2]:
        return Registration(version, False, f"registered {name} version {version} ({SELECTION_METRIC} "
                            f"{score:.4f}); champion stays version {current[0]} ({current[2]:.4f})")
    client.set_registered_model_alias(name, CHAMPION, version)
    was = f" (was version {current[0]}, {current[2]:.4f})" if current else ""
    return Registration(version, True, f"registered {name} version {version} as {CHAMPION} "
                        f"({SELECTION_METRIC} {score:.4f}){was}")


def _registered_version(name: str, run_id: str) -> str | None:
    """The version a run's model already has under ``name``: registering twice adds no version."""
    try:
        versions = MlflowClient().search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    except MlflowException:
        return None
    return min((str(v.version) for v in versions), key=int, default=None)


@contextlib.contextmanager
def _quiet():
    """MLflow prints registration chatter; the CLI prints its own one-line summary."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
        yield


def version_of(uri: str, name: str) -> str | None:
    """The registry version a ``models:/NAME@alias`` or ``models:/NAME/V`` URI points to."""
    if not uri.startswith(f"models:/{name}"):
        return None
    rest = uri[len(f"models:/{name}"):]
    client = MlflowClient()
    try:
        if rest.startswith("@"):
            return str(client.get_model_version_by_alias(name, rest[1:]).version)
        if rest.startswith("/"):
            return str(client.get_model_version(name, rest[1:]).version)
    except MlflowException as e:
        raise TrackingError(f"cannot resolve {uri}: {_one_line(e)}") from None
    return None


def model_metadata(uri: str) -> dict:
    """What an export should carry about its source: the URI, run id, class names and normalization."""
    meta: dict = {"source_uri": uri}
    try:
        run_id = mlflow.models.get_model_info(uri).run_id
        run = MlflowClient().get_run(run_id)
    except Exception:
        return meta
    params, tags = run.data.params, run.data.tags
    meta.update(run_id=run_id, dataset=tags.get("trainlab.dataset"),
                class_names=tags["trainlab.class_names"].split(",") if tags.get("trainlab.class_names") else None,
                normalization={k.split(".", 1)[1]: params[k] for k in params if k.startswith("normalization.")})
    return meta
