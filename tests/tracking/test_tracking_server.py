"""`trainlab server`: a real MLflow tracking server on 127.0.0.1 that concurrent writer processes share."""
import subprocess
import sys
import textwrap

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import free_port, start_server, stop_server

WRITERS, STEPS = 4, 25

# Each writer is its own process: configure (creating the experiment if nobody has yet), then one run
# with params and a stepped metric, all over HTTP.
WRITER = textwrap.dedent("""
    import sys
    from trainlab.pipeline import tracking
    from trainlab.pipeline.config.schema import TrackingConfig
    uri, index, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    experiment_id = tracking.configure(TrackingConfig(tracking_uri=uri, experiment="team"))
    with tracking.run(experiment_id, f"writer-{index}", {"writer": index}):
        tracking.log_params({"writer": index, "steps": steps})
        for step in range(steps):
            tracking.log_metrics({"value": index * 1000 + step}, step=step)
""")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`trainlab server` on a free 127.0.0.1 port; stopped by its own PID at the end."""
    tmp = tmp_path_factory.mktemp("server")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    proc = start_server([sys.executable, "-m", "trainlab.pipeline.cli", "server", "--backend-store-uri",
                         f"sqlite:///{tmp}/team.db", "--artifacts-destination", str(tmp / "artifacts"),
                         "--port", str(port)], f"{uri}/health", cwd=tmp)
    yield uri, tmp
    stop_server(proc)
    assert proc.poll() is not None


@pytest.mark.slow
def test_concurrent_writers_all_land_in_their_experiment(server):
    uri, _ = server
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, uri, str(i), str(STEPS)], stderr=subprocess.PIPE)
               for i in range(WRITERS)]
    for w in writers:
        assert w.wait(timeout=240) == 0, w.stderr.read().decode()[-2000:]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("team")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["writer"] for r in runs) == [str(i) for i in range(WRITERS)]
    for r in runs:
        assert r.info.status == "FINISHED"
        history = client.get_metric_history(r.info.run_id, "value")
        index = int(r.data.params["writer"])
        assert sorted((m.step, m.value) for m in history) == [(s, index * 1000 + s) for s in range(STEPS)]
    assert client.search_runs(["0"]) == []  # nothing strayed into "Default"


@pytest.mark.slow
def test_mlflow_environment_variables_beat_the_config_file(server, tmp_path, monkeypatch):
    """MLFLOW_TRACKING_URI / MLFLOW_EXPERIMENT_NAME, as `trainlab server` tells clients to export them,
    win over the config file's store: the run, its model and the registry land on the server. (In this
    process: the variables are read when the command loads its config, so a new process adds nothing.)"""
    from click.testing import CliRunner

    from trainlab.pipeline.cli import cli
    uri, server_dir = server
    (tmp_path / "mlflow.yml").write_text("tracking:\n  tracking_uri: sqlite:///local.db\n  experiment: local\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    done = CliRunner().invoke(cli, ["train", "--preset", "smoke", "--register"])
    assert done.exit_code == 0, done.output + repr(done.exception)
    assert "as champion" in done.output
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("from-env").experiment_id])
    assert client.get_model_version_by_alias("trainlab-mnist", "champion").run_id == run.info.run_id
    assert any((server_dir / "artifacts").rglob("MLmodel"))
    assert not (tmp_path / "local.db").exists()


def test_no_server_is_a_clear_error():
    from trainlab.pipeline import tracking
    from trainlab.pipeline.config.schema import TrackingConfig
    from trainlab.pipeline.errors import TrackingError
    with pytest.raises(TrackingError, match="no MLflow tracking server answers at http://127.0.0.1:"):
        tracking.configure(TrackingConfig(tracking_uri=f"http://127.0.0.1:{free_port()}"))
