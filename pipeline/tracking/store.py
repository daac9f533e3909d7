"""The tracking store: where MLflow writes, checked before any work starts."""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path

from pipeline.config import TrackingConfig
from pipeline.errors import TrackingError

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
import mlflow  # noqa: E402

logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)


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
def _quiet():
    """MLflow prints registration chatter; the CLI prints its own one-line summary."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
        yield
