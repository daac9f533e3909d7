"""Sweeps on a real local Ray cluster bound to loopback, started and stopped by this test alone."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import free_port, fresh_store

pytest.importorskip("ray", reason="the ray extra is installed by `make test`")

GRID = """name: on-ray
preset: smoke
base: {model.width: 4, data.limit_train: 1200, data.validation_size: 200, data.limit_test: 200}
grid: {train.learning_rate: [0.003]}
points:
  - {label: bad-labels, data.dataset: BAD}
"""
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture
def ray_env(tmp_path):
    """Token auth on, with this test's own token for the cluster and the driver alike (Ray would
    otherwise decide per process from whatever ~/.ray/auth_token holds)."""
    import secrets
    token = tmp_path / "ray-token"
    token.write_text(secrets.token_hex(32))
    return {**RAY_ENV, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}


@pytest.fixture
def ray_cluster(tmp_path, ray_env):
    """`ray start --head --block` on 127.0.0.1 in its own process group: stopping it stops only it."""
    port = free_port()
    # its own: no session files left in /tmp/ray (short: socket paths)
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    log = open(tmp_path / "ray-head.log", "w")
    ray_bin = Path(sys.executable).with_name("ray")
    head = subprocess.Popen([str(ray_bin), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                             f"--port={port}", f"--ray-client-server-port={free_port()}",
                             f"--dashboard-port={free_port()}", "--include-dashboard=false", "--num-cpus=2",
                             "--disable-usage-stats", f"--temp-dir={temp_dir}"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **ray_env}, start_new_session=True)
    try:
        deadline = time.time() + 120
        while "Ray runtime started" not in (tmp_path / "ray-head.log").read_text():
            assert head.poll() is None and time.time() < deadline, (tmp_path / "ray-head.log").read_text()[-2000:]
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:  # this cluster's own process group only (`ray stop` would stop every Ray on the machine)
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=3)
        except subprocess.TimeoutExpired:  # a graceful Ray shutdown takes ~25 s; nothing here needs it
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=10)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def sweep(tmp_path, address, env):
    return subprocess.run([sys.executable, "-m", "trainlab.pipeline.cli", "sweep", "grid.yml", "--ray", address,
                           "--tracking-uri", fresh_store(tmp_path, "m.db")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=400, env={**os.environ, **env})


@pytest.mark.slow
def test_sweep_runs_its_points_as_ray_tasks_and_resumes(tmp_path, ray_cluster, ray_env):
    from tests.experiments.test_sweeps import bad_labels
    (tmp_path / "grid.yml").write_text(GRID.replace("BAD", bad_labels(tmp_path)))
    first = sweep(tmp_path, ray_cluster, ray_env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Ray: 2 CPU(s) in the cluster" in first.stdout
    assert "2 point(s) run, 0 skipped as finished, 1 failed" in first.stdout
    client = MlflowClient(fresh_store(tmp_path, "m.db"))
    runs = client.search_runs(["1"], "tags.`trainlab.sweep.role` = 'point'")
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]
    assert len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1
    again = sweep(tmp_path, ray_cluster, ray_env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "1 point(s) run, 1 skipped as finished, 1 failed" in again.stdout


def test_an_unreachable_cluster_is_a_clear_error():
    from trainlab.pipeline.errors import ConfigError
    from trainlab.pipeline.experiments.sweeps.ray_executor import _check_reachable
    with pytest.raises(ConfigError, match="no Ray cluster answers at 127.0.0.1:"):
        _check_reachable(f"127.0.0.1:{free_port()}")
