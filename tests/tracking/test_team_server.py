"""A team's tracking server for real: `trainlab server` on a throwaway PostgreSQL cluster, artifacts served by
the server, logins on. Anonymous and wrong-password clients get one line; a whole `trainlab run` goes
through it; concurrent registrations from processes that look like other machines keep the champion
right; the server killed and restarted while a run trains loses nothing."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from tests.conftest import free_port, start_server, stop_server
from tests.tracking import postgres
from trainlab.pipeline.cli import cli

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(postgres.unavailable() is not None, reason=postgres.unavailable() or "")]

ADMIN = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "a-long-test-passphrase"}


class Team:
    """The cluster, the server on it and where it keeps things; ``start()`` (re)starts the server."""

    def __init__(self, root: Path, cluster: postgres.Cluster):
        self.root, self.cluster, self.port, self.process = root, cluster, free_port(), None

    def uri(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "trainlab.pipeline.cli", "server", "--backend-store-uri", self.cluster.uri(),
                "--artifacts-destination", str(self.root / "artifacts"), "--port", str(self.port), "--auth",
                "--auth-dir", str(self.root / "auth")]
        env = {**os.environ, "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN["MLFLOW_TRACKING_PASSWORD"]}
        self.process = start_server(argv, f"{self.uri()}/health", cwd=self.root, env=env, timeout=90)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def team():
    root = Path(tempfile.mkdtemp(prefix="trainlab-team-"))
    cluster = postgres.start(Path(tempfile.mkdtemp(prefix="trainlab-pg-")))  # a folder PostgreSQL's user may own
    try:
        cluster.create_database("mlflow")
        team = Team(root, cluster)
        team.start()
        yield team
        stop_server(team.process)
    finally:
        cluster.stop()
        shutil.rmtree(cluster.folder, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def admin(team, monkeypatch):
    for key, value in ADMIN.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", team.uri())  # which set_tracking_uri exports: taken back after
    mlflow.set_tracking_uri(team.uri())
    return MlflowClient(team.uri())


def test_anonymous_and_wrong_password_clients_get_one_line(team):
    anonymous = CliRunner().invoke(cli, ["runs", "--tracking-uri", team.uri()],
                                   env={"MLFLOW_TRACKING_USERNAME": None, "MLFLOW_TRACKING_PASSWORD": None})
    assert anonymous.exit_code == 2 and anonymous.output == (
        f"Error: the tracking server at {team.uri()} refuses anonymous requests (401): set "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD\n")
    wrong = CliRunner().invoke(cli, ["runs", "--tracking-uri", team.uri("localhost")],
                               env={**ADMIN, "MLFLOW_TRACKING_PASSWORD": "not-the-passphrase"})
    assert wrong.exit_code == 2 and "refuses user 'admin' (401): check MLFLOW_TRACKING_PASSWORD" in wrong.output


def test_a_whole_run_logs_through_the_server_registers_and_exports_the_champion(team, admin, tmp_path):
    done = CliRunner().invoke(cli, ["run", "--preset", "smoke", "--epochs", "1", "--tracking-uri", team.uri(),
                                    "--export-dir", str(tmp_path / "exports")])
    assert done.exit_code == 0, done.output
    version = admin.get_model_version_by_alias("trainlab-mnist", "champion")
    run = admin.get_run(version.run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # stored by the server: no shared folder
    assert list((team.root / "artifacts").rglob("plan.yaml")) and list((team.root / "artifacts").rglob("MLmodel"))
    assert (tmp_path / "exports" / "trainlab-mnist" / version.version / "saved_model.pb").is_file()
    ledger = admin.search_model_versions("name = 'trainlab-mnist.decisions'")
    assert [v.tags["trainlab.decision"] for v in ledger] == [f"decided: version {version.version} champion"]
    port = free_port()  # trainlab serve follows the champion with the same credentials; without them, one line
    serve = [sys.executable, "-m", "trainlab.pipeline.cli", "serve", "--tracking-uri", team.uri(), "--export-dir",
             str(tmp_path / "exports"), "--port", str(port), "--poll-seconds", "0.5"]
    server = start_server(serve, f"http://127.0.0.1:{port}/v1/models/trainlab-mnist/labels/champion",
                          env={**os.environ, **ADMIN})
    stop_server(server)
    anonymous = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    refused = subprocess.run(serve, env=anonymous, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and refused.stderr.endswith(
        "refuses anonymous requests (401): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD\n")


REGISTER = """
import sys
from trainlab.pipeline import tracking
from trainlab.pipeline.config.schema import TrackingConfig
tracking.configure(TrackingConfig(tracking_uri=sys.argv[1], experiment="rounds"))
print(tracking.register(sys.argv[2], "rounds").message)
"""


def finished_run(accuracy: float) -> str:
    """A finished run with a logged model (no weights: registration needs only the entity) and its score."""
    with mlflow.start_run() as run:
        mlflow.log_metric("best_val_accuracy", accuracy)
        mlflow.set_tag("trainlab.validation", "the same images")
        model = mlflow.initialize_logged_model(name="model", source_run_id=run.info.run_id)
        mlflow.finalize_logged_model(model.model_id, "READY")
    return run.info.run_id


def test_concurrent_registrations_from_other_machines_keep_consecutive_versions_and_the_best_champion(
        team, admin, tmp_path):
    mlflow.set_experiment("rounds")
    scores = [[0.71, 0.93, 0.82], [0.90, 0.88, 0.95], [0.60, 0.95, 0.94], [0.97, 0.91, 0.96], [0.50, 0.52, 0.97]]
    best = 0.0
    for round_, accuracies in enumerate(scores):
        runs = [finished_run(a) for a in accuracies]
        procs = []
        for i, run_id in enumerate(runs):  # each its own HOME and TMPDIR, the URI spelt two ways
            home = tmp_path / f"machine-{round_}-{i}"
            (home / "tmp").mkdir(parents=True)
            env = {**os.environ, **ADMIN, "HOME": str(home), "TMPDIR": str(home / "tmp")}
            uri = team.uri("localhost" if i % 2 else "127.0.0.1")
            procs.append(subprocess.Popen([sys.executable, "-c", REGISTER, uri, run_id], env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for p in procs:
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, err[-2000:]
        best = max(best, *accuracies)
        versions = admin.search_model_versions("name = 'rounds'")
        assert sorted(int(v.version) for v in versions) == list(range(1, 3 * round_ + 4))
        champion = admin.get_model_version_by_alias("rounds", "champion")
        assert admin.get_run(champion.run_id).data.metrics["best_val_accuracy"] == best, round_
    ledger = admin.search_model_versions("name = 'rounds.decisions'")
    assert len(ledger) == 15 and all(v.tags["trainlab.decision"].startswith("decided: ") for v in ledger)


def test_the_server_killed_and_restarted_mid_run_loses_nothing_and_the_run_finishes(team, admin, tmp_path):
    env = {**os.environ, **ADMIN, "TRAINLAB_QUIET": "1"}
    train = subprocess.Popen([sys.executable, "-m", "trainlab.pipeline.cli", "train", "--preset", "smoke", "--epochs",
                              "4", "--tracking-uri", team.uri(), "--set", "tracking.experiment=restart"],
                             cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        lines = []
        for line in train.stdout:
            lines.append(line)
            if line.startswith("epoch 1/4"):
                break
        team.kill()  # mid-run: epoch 1 logged, the next epochs' logs find no server until it is back
        team.start()
        rest, _ = train.communicate(timeout=300)
    finally:
        if train.poll() is None:
            os.killpg(train.pid, signal.SIGKILL)
    output = "".join(lines) + rest
    assert train.returncode == 0, output[-3000:]
    run = admin.search_runs([admin.get_experiment_by_name("restart").experiment_id])[0]
    assert run.info.status == "FINISHED"
    assert [m.step for m in admin.get_metric_history(run.info.run_id, "val_accuracy")] == [0, 1, 2, 3]
