"""Shared fixtures: a temporary MLflow store per test, the real MNIST file, one small trained run."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(items):
    """Modules with slow tests first, most slow tests first, each module's tests together and in order:
    make test's two processes take a module at a time (its module fixtures made once), the long ones
    first, and share out the quick ones at the end instead of one finishing a long module alone."""
    slow: dict = {}
    for item in items:
        slow[item.module] = slow.get(item.module, 0) + (item.get_closest_marker("slow") is not None)
    order = {module: i for i, module in enumerate(dict.fromkeys(item.module for item in items))}
    items.sort(key=lambda item: (-slow[item.module], order[item.module]))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Convert MNIST into a fresh cache once per session: tests exercise the real conversion."""
    os.environ["TRAINLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield


_EMPTY_STORE = []  # an sqlite tracking store with MLflow's tables made, no experiment in it yet


@pytest.fixture(scope="session", autouse=True)
def _empty_store(tmp_path_factory):
    """Make MLflow's tables once (its migrations take seconds per new store); ``fresh_store`` copies them.
    Tests of store creation itself (the CLI's own runs, servers) still start from nothing."""
    from mlflow.tracking import MlflowClient
    path = tmp_path_factory.mktemp("store") / "empty.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    _EMPTY_STORE.append(path)
    yield


def fresh_store(tmp_dir, name: str = "mlflow.db") -> str:
    """The URI of an sqlite store at ``tmp_dir/name``, its tables made (copied from the session's empty store)."""
    import shutil
    target = os.path.join(tmp_dir, name)
    if _EMPTY_STORE and not os.path.exists(target):
        shutil.copyfile(_EMPTY_STORE[0], target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def mnist():
    from trainlab.pipeline.data.sources import load_dataset
    return load_dataset("mnist")


def smoke_config(tmp_dir, **overrides):
    """The smoke preset against a store and export folder inside ``tmp_dir``."""
    from trainlab.pipeline.config.loading import load_config
    base = {"tracking.tracking_uri": fresh_store(tmp_dir), "export.dir": str(tmp_dir / "exports")}
    return load_config(None, {**base, **overrides}, preset="smoke")


@pytest.fixture
def store(tmp_path):
    """A fresh sqlite store and its smoke config."""
    return smoke_config(tmp_path)


@pytest.fixture
def trained(_trained):
    """The shared trained run, with MLflow pointed at its store (other tests move the global URI)."""
    from trainlab.pipeline import tracking
    tracking.configure(_trained[0].tracking)
    return _trained


@pytest.fixture(scope="session")
def _trained(tmp_path_factory):
    """One small model trained for two epochs, registered as champion: shared by the tests that read it."""
    from trainlab.pipeline.job import train_and_register
    from trainlab.pipeline.plan import resolve_plan
    tmp = tmp_path_factory.mktemp("trained")
    cfg = smoke_config(tmp, **{"train.epochs": 2})
    lines = []
    result = train_and_register(resolve_plan(cfg), echo=lines.append)
    return cfg, result, lines


@pytest.fixture(scope="session")
def _exported(_trained):
    """The shared trained run's champion, exported once (SavedModel and TFLite)."""
    from trainlab.pipeline.export.stage import export_champion
    cfg, result, _ = _trained
    path, written = export_champion(cfg, formats=("tflite",))
    return cfg, result, path, written


@pytest.fixture
def exported(_exported):
    from trainlab.pipeline import tracking
    tracking.configure(_exported[0].tracking)
    return _exported


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(argv, url, cwd=None, timeout=120, env=None):
    """Start a server process in its own session and wait until ``url`` answers; returns the process."""
    import subprocess
    import time
    import urllib.request
    proc = subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"server did not answer {url} within {timeout}s")


def stop_server(proc) -> None:
    import os
    import signal
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except Exception:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
