"""The tracking store: where MLflow writes, checked before any work starts."""
from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from ..config.schema import TrackingConfig
from ..errors import TrackingError, one_line
from ..runtime.locks import file_lock


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
    elif uri.startswith(("http://", "https://")):
        _check_server(uri)
    with _environment_kept("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(uri)
    try:
        with _setup_lock(uri):
            return _experiment_id(cfg.experiment, uri)
    except Exception as e:  # MLflow wraps sqlite/alembic/HTTP errors in several types
        raise TrackingError(f"cannot open tracking store {uri}: {one_line(e)}") from None


@contextlib.contextmanager
def _setup_lock(uri: str):
    """One process at a time creates a new sqlite store's tables and experiment: several processes
    started together on a fresh store would otherwise run MLflow's schema migrations at once and fail."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    with file_lock(uri[len("sqlite:///"):] + ".lock"):
        yield


@contextlib.contextmanager
def _environment_kept(name: str):
    """``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI`` for subprocesses. trainlab hands
    its own subprocesses their whole config, and reads that variable as the user's choice (over the
    config file): in a process that configures twice (a notebook, a sweep) the first store must not
    pass for the user's."""
    before = os.environ.get(name)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _experiment_id(name: str, uri: str, attempts: int = 3) -> str:
    """The experiment's id, creating it if needed. Several processes may create it at once: the
    losers see 'already exists' and look it up (runs started by that id never land in "Default")."""
    for attempt in range(attempts):
        try:
            if mlflow.get_experiment_by_name(name) is None:
                if uri.startswith("sqlite:///"):
                    # Artifacts live beside the database, not in whatever folder the command ran from.
                    artifacts = Path(uri[len("sqlite:///"):]).parent / "mlartifacts"
                    mlflow.create_experiment(name, artifact_location=artifacts.resolve().as_uri())
                else:
                    mlflow.create_experiment(name)
            return mlflow.set_experiment(name).experiment_id
        except MlflowException as e:
            if attempt == attempts - 1 or "already exists" not in str(e).lower():
                raise
    raise AssertionError("unreachable")


_ADMITTED: set[tuple] = set()  # (server, user, password) the server answered this process


def _check_server(uri: str) -> None:
    """Fail fast when no tracking server answers (MLflow's own client retries for minutes), or when it refuses
    this client: one line naming the user (MLflow's ``MLFLOW_TRACKING_USERNAME``) and the answer."""
    base = uri.rstrip("/")
    try:
        urllib.request.urlopen(base + "/health", timeout=10).read()
    except (urllib.error.URLError, OSError) as e:
        raise TrackingError(f"no MLflow tracking server answers at {uri} ({getattr(e, 'reason', e)}); "
                            "start one with `trainlab server`") from None
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if (base, user, password) in _ADMITTED:  # once per process: a checked password costs the server ~0.2 s
        return
    request = urllib.request.Request(base + "/api/2.0/mlflow/experiments/search?max_results=1")
    if user:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        urllib.request.urlopen(request, timeout=30).read()
    except urllib.error.HTTPError as e:
        if e.code not in (401, 403):
            return  # anything else is MLflow's to report, with its own message
        who = f"user {user!r}" if user else "anonymous requests"
        fix = ("check MLFLOW_TRACKING_PASSWORD" if e.code == 401 else "ask its admin for a permission") if user else \
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        raise TrackingError(f"the tracking server at {uri} refuses {who} ({e.code}): {fix}") from None
    except (urllib.error.URLError, OSError):
        return
    _ADMITTED.add((base, user, password))


def _check_sqlite(db: Path, uri: str) -> None:
    """Fail fast on a store that is not an SQLite database (MLflow would retry for minutes)."""
    if not db.is_file():
        raise TrackingError(f"tracking store {uri}: {db} is not a file")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
            con.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as e:
        raise TrackingError(f"tracking store {uri} cannot be opened: {e}") from None



@contextlib.contextmanager
def quiet():
    """MLflow prints registration chatter; the CLI prints its own one-line summary."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
        yield
