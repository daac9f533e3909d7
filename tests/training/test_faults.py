"""Surviving faults: signals stop cleanly, checkpoints are atomic, a killed run resumes to the same
result, and the champion moves fairly and atomically."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import fresh_store, smoke_config
from tests.shapes import make_shapes_folder
from trainlab.pipeline import tracking
from trainlab.pipeline.job import train_and_register
from trainlab.pipeline.plan import resolve_plan
from trainlab.pipeline.training.checkpoints import Checkpoint
from trainlab.pipeline.training.faults import ResourceError

TRAINLAB = Path(sys.executable).with_name("trainlab")


def trainlab(tmp_path, *args, **popen):
    """Start ``trainlab ARGS`` on the store in ``tmp_path``, in its own process group."""
    argv = [str(TRAINLAB), *args, "--tracking-uri", fresh_store(tmp_path, "mlflow.db")]
    return subprocess.Popen(argv, cwd=tmp_path, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def finish(proc, timeout=240) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return out


def checkpoint_of(tmp_path, epochs_done: int, timeout: float = 180) -> Path:
    """Wait until the (only) run's checkpoint holds ``epochs_done`` finished epochs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in tmp_path.glob("checkpoints/*/checkpoint.npz"):
            try:
                if Checkpoint.peek(path)["epoch"] + 1 >= epochs_done:
                    return path
            except Exception:
                pass  # being renamed into place
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint with {epochs_done} epoch(s) in {timeout}s")


def only_run(tmp_path):
    tracking.configure(smoke_config(tmp_path).tracking)
    client = MlflowClient()
    [run] = client.search_runs([client.get_experiment_by_name("trainlab").experiment_id])
    return run


def weights_digest(output: str) -> str:
    return next(line.split()[-1] for line in output.splitlines() if line.startswith("weights digest"))


# SIGINT and SIGHUP take the same path: in-process below
@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143)])
def test_a_signal_stops_training_at_a_batch_boundary_and_keeps_the_checkpoint(tmp_path, signum, code):
    proc = trainlab(tmp_path, "train", "--preset", "smoke", "--epochs", "60", "--register")
    checkpoint_of(tmp_path, 1)
    os.killpg(proc.pid, signum)
    out = finish(proc, timeout=60)
    assert proc.returncode == code, out
    assert f"Interrupted (stopped by {signal.Signals(signum).name})." in out and "Traceback" not in out
    run = only_run(tmp_path)
    assert run.info.status == "KILLED"
    assert run.data.tags["trainlab.status_reason"] == f"stopped by {signal.Signals(signum).name}"
    kept = Checkpoint.peek(Path(run.data.tags["trainlab.checkpoint"]))
    logged = MlflowClient().get_metric_history(run.info.run_id, "val_accuracy")
    assert [m.step for m in logged] == list(range(kept["epoch"] + 1))  # no unfinished epoch was logged
    assert MlflowClient().search_registered_models() == []


def in_process(tmp_path, monkeypatch, *args) -> str:
    """``trainlab ARGS`` on the store in ``tmp_path``, run in this process (no start-up to pay)."""
    from click.testing import CliRunner

    from trainlab.pipeline.cli import cli
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [*args, "--tracking-uri", fresh_store(tmp_path, "mlflow.db")])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.mark.slow
@pytest.mark.parametrize("data", ["mnist", "streamed folder"])
def test_kill_9_then_resume_gives_the_uninterrupted_weights(tmp_path, monkeypatch, data):
    """Only the killed run needs a process of its own; the straight run, the listing and the resume run here.
    The streamed folder (of small photos, read from disk every epoch) takes random-resized crops, drawn
    while decoding."""
    epochs, name = 3, "trainlab-mnist"
    config = ["train", "--preset", "smoke", "--limit-train", "4000", "--deterministic"]
    if data == "streamed folder":
        epochs, name = 6, "trainlab-shapes"  # short epochs: the kill still lands before the end
        folder = make_shapes_folder(tmp_path / "shapes", per_class=60)
        config += ["--dataset", str(folder), "--set", "data.memory_budget=0", "--set", f"data.cache_dir={tmp_path}",
                   "--set", "data.validation_size=40", "--set", "data.limit_test=null", "--set",
                   "augment=[{name: random_resized_crop, scale: [0.5, 1]}, {name: flip_horizontal}]"]
    config += ["--epochs", str(epochs)]
    (tmp_path / "killed").mkdir()
    killed = tmp_path / "killed"
    proc = trainlab(killed, *config, "--register")
    checkpoint_of(killed, 1)
    os.killpg(proc.pid, signal.SIGKILL)  # in epoch 2, or just after it (either way the result must not change)
    proc.wait(30)
    (tmp_path / "straight").mkdir()
    straight = in_process(tmp_path / "straight", monkeypatch, *config)
    run_id = only_run(killed).info.run_id
    listed = in_process(killed, monkeypatch, "runs")
    assert run_id in listed and "orphaned (its process is gone)" in listed and f"--resume {run_id}" in listed
    resumed = in_process(killed, monkeypatch, "train", "--resume")
    assert f"run {run_id}: resuming cnn" in resumed, resumed
    assert weights_digest(resumed) == weights_digest(straight)
    test_accuracy = lambda out: out.split("test_accuracy ")[1].split(";")[0]  # noqa: E731
    assert test_accuracy(resumed) == test_accuracy(straight)
    run = only_run(killed)
    assert run.info.run_id == run_id and run.info.status == "FINISHED"
    assert [m.step for m in MlflowClient().get_metric_history(run_id, "val_accuracy")] == list(range(epochs))
    assert f"registered {name} version 1 as champion" in resumed  # --register of the killed command
    assert not (killed / "checkpoints" / run_id).exists()  # removed once the run finished
    assert "no unfinished runs" in in_process(killed, monkeypatch, "runs")


def test_a_store_removed_mid_run_is_one_line_and_the_checkpoint_stays(tmp_path):
    proc = trainlab(tmp_path, "train", "--preset", "smoke", "--epochs", "60")
    checkpoint_of(tmp_path, 1)
    (tmp_path / "mlflow.db").unlink()
    out = finish(proc, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in out and "ERROR" not in out, out
    assert out.strip().splitlines()[-1].startswith("Error: tracking store sqlite:///")
    assert "failed during run" in out and "the run's checkpoint is kept" in out
    assert list(tmp_path.glob("checkpoints/*/checkpoint.npz"))


@pytest.mark.parametrize("args, message", [
    (["--resume"], "no unfinished run with a checkpoint"),
    (["--resume", "0123456789abcdef"], "no run with id"),
    (["--resume", "--epochs", "3"], "--resume continues a run with its own config: drop train.epochs"),
])
def test_resume_errors_are_one_line(tmp_path, args, message):
    from click.testing import CliRunner

    from trainlab.pipeline.cli import cli
    result = CliRunner().invoke(cli, ["train", *args, "--tracking-uri", fresh_store(tmp_path, "mlflow.db")])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output


@pytest.mark.parametrize("signum, code", [(signal.SIGHUP, 129), (signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_are_recorded_while_graceful_and_raise_otherwise(signum, code):
    from trainlab.pipeline.training.faults import Interrupted, graceful, signals_as_interrupts
    before = signal.getsignal(signum)
    with graceful() as pending:
        os.kill(os.getpid(), signum)
        time.sleep(0.05)
        assert pending == [signum]                       # the first one only asks to stop
        with pytest.raises(Interrupted) as second:
            os.kill(os.getpid(), signum)                 # a second one stops at once
            time.sleep(1)
    assert second.value.exit_code == code and str(second.value) == f"stopped by {signal.Signals(signum).name}"
    with pytest.raises(KeyboardInterrupt):               # outside training: at once, as Ctrl-C would
        with signals_as_interrupts():
            os.kill(os.getpid(), signum)
            time.sleep(1)
    assert signal.getsignal(signum) is before            # handlers are put back


def test_deterministic_runs_give_the_same_weights(tmp_path):
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.training.stage import train
    digests = set()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        cfg = smoke_config(tmp_path / name, **{"train.deterministic": True, "model.dropout": 0.3,
                                               "data.limit_train": 1000, "data.validation_size": 200})
        result = train(resolve_plan(cfg), echo=lambda _: None)
        digests.add(MlflowClient().get_run(result.run_id).data.tags["trainlab.weights_digest"])
    assert len(digests) == 1
    from trainlab import compat
    assert not compat.op_determinism_enabled()  # switched off again: the process trains other things after


def _tiny_model():
    import keras
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dropout(0.5),
                              keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_checkpoint_restores_weights_optimizer_state_and_seed_states(tmp_path):
    model = _tiny_model()
    model.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=2, verbose=0)
    Checkpoint.capture(model, 1, model.get_weights(), {"history": {"loss": [1.0, 0.5]}}).save(tmp_path / "c.npz")
    fresh = _tiny_model()
    loaded = Checkpoint.load(tmp_path / "c.npz")
    loaded.restore(fresh)
    assert loaded.epoch == 1 and loaded.state["history"] == {"loss": [1.0, 0.5]}
    assert int(fresh.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 2
    for a, b in zip(fresh.variables + fresh.optimizer.variables, model.variables + model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(Exception, match="different model"):
        loaded.restore(__import__("keras").Sequential([__import__("keras").Input((4,)),
                                                        __import__("keras").layers.Dense(2)]))


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run" / "checkpoint.npz"
    model = _tiny_model()
    Checkpoint.capture(model, 0, None, {"n": 1}).save(path)
    before = path.read_bytes()

    def full(*_, **__):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(ResourceError, match=r"^disk full writing checkpoint .*checkpoint.npz: free some space"):
        Checkpoint.capture(model, 1, None, {"n": 2}).save(path)
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == ["checkpoint.npz"]


def test_a_torn_checkpoint_file_is_a_clear_error(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(Exception, match="cannot be read"):
        Checkpoint.load(path)


def test_champion_is_rescored_on_the_candidates_validation_split(tmp_path):
    first = train_and_register(resolve_plan(smoke_config(tmp_path)), echo=lambda _: None)
    assert first.registration.promoted
    other = train_and_register(resolve_plan(smoke_config(tmp_path, **{"train.seed": 7})), echo=lambda _: None)
    tags = [MlflowClient().get_run(r.run_id).data.tags[tracking.VALIDATION_TAG] for r in (first, other)]
    assert tags[0] != tags[1]
    assert "re-scored on this run's validation images" in other.registration.message
    holder = tracking.champion("trainlab-mnist")[1]
    same = train_and_register(resolve_plan(smoke_config(tmp_path, **{"train.epochs": 2})), echo=lambda _: None)
    # against a champion with the same split (the first run) the scores compare directly
    assert ("re-scored" in same.registration.message) == (holder != first.run_id), same.registration.message


@pytest.mark.slow
def test_three_concurrent_registrations_get_consecutive_versions_and_the_best_is_champion(tmp_path):
    procs = [trainlab(tmp_path, "train", "--preset", "smoke", "--register", "--set", f"model.width={w}",
                      "--limit-train", "700", "--set", "data.validation_size=200")
             for w in (4, 6, 8)]  # the same split, three different networks, finishing together
    outs = [finish(p, timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    tracking.configure(smoke_config(tmp_path).tracking)
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("trainlab").experiment_id])
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    versions = client.search_model_versions("name = 'trainlab-mnist'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3]
    assert sorted(v.run_id for v in versions) == sorted(r.info.run_id for r in runs)
    best = max(r.data.metrics["best_val_accuracy"] for r in runs)
    champion_run = client.get_model_version_by_alias("trainlab-mnist", "champion").run_id
    assert client.get_run(champion_run).data.metrics["best_val_accuracy"] == best


@pytest.mark.slow
def test_a_killed_sweep_rerun_resumes_its_unfinished_points_from_their_checkpoints(tmp_path, monkeypatch):
    (tmp_path / "grid.yml").write_text("name: kill\npreset: smoke\nbase: {model.width: 4, data.limit_train: 1200, "
                                       "data.validation_size: 200, data.limit_test: 200, train.epochs: 6}\n"
                                       "grid: {train.learning_rate: [0.002, 0.004]}\n")
    sweep = ["sweep", "grid.yml", "--workers", "2"]
    proc = trainlab(tmp_path, *sweep)
    checkpoint_of(tmp_path, 2)
    proc.send_signal(signal.SIGTERM)  # to the sweep alone: it passes the stop on to its worker processes
    out = finish(proc, timeout=120)
    assert proc.returncode == 143 and "Traceback" not in out, out
    tracking.configure(smoke_config(tmp_path).tracking)
    client = MlflowClient()
    experiment = client.get_experiment_by_name("trainlab").experiment_id
    killed = {r.info.run_id for r in client.search_runs([experiment], "attributes.status = 'KILLED'")
              if r.data.tags.get("trainlab.sweep.role") == "point"
              and Path(r.data.tags.get("trainlab.checkpoint", "-")).is_file()}
    assert 1 <= len(killed) <= 2
    again = in_process(tmp_path, monkeypatch, *sweep)  # its points still run in worker processes
    assert f"{len(killed)} of them resumed from their checkpoints" in again, again
    points = [r for r in client.search_runs([experiment]) if r.data.tags.get("trainlab.sweep.role") == "point"]
    assert {r.info.run_id for r in points if r.info.status == "FINISHED"} >= killed  # the same runs continued
    finished = [r for r in points if r.info.status == "FINISHED"]
    assert len(finished) == 2  # a point stopped before its first checkpoint ran again from the start
    assert not any(r.info.run_id in killed for r in points if r.info.status != "FINISHED")
    assert not list(tmp_path.glob("checkpoints/*/*"))


def test_the_owner_of_a_running_run_is_told_alive_or_dead():
    import socket

    from trainlab.pipeline.training.resume import owner_alive
    here, me = socket.gethostname(), os.getpid()
    assert owner_alive(here, f"{me}:{tracking.process_start(me)}")
    assert not owner_alive(here, f"{me}:1")              # the pid was reused (after a reboot): not the owner
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not owner_alive(here, f"{dead.pid}:0")
    assert owner_alive("another-host", "5:1")             # cannot tell: assumed to be working
    assert not owner_alive(here, None)


def test_a_damaged_checkpoint_blocks_only_its_own_run_and_a_gone_hosts_run_can_be_taken_over(tmp_path, monkeypatch):
    """Two runs stopped after their first epoch (Ctrl-C at its end); the newer one's checkpoint is cut short.
    `trainlab runs` lists both (the damaged one named), a plain --resume continues the sound one; a run left
    RUNNING under a host name that is gone is taken over with --force."""
    import keras
    from click.testing import CliRunner

    from trainlab.pipeline.cli import cli

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt("stopped for the test")
    monkeypatch.chdir(tmp_path)
    cfg = smoke_config(tmp_path, **{"train.epochs": 2})
    from trainlab.pipeline.training.stage import train
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            train(resolve_plan(cfg), echo=lambda _: None, callbacks=[StopAfterFirstEpoch()])
    sound, damaged = sorted(tracking.search_runs(tracking.configure(cfg.tracking), ("KILLED",)),
                            key=lambda r: r.info.start_time)
    path = Path(damaged.data.tags["trainlab.checkpoint"])
    path.write_bytes(path.read_bytes()[:100])
    listed = in_process(tmp_path, monkeypatch, "runs")
    assert f"{damaged.info.run_id}" in listed and "cannot resume: checkpoint" in listed, listed
    assert f"resume: trainlab train --resume {sound.info.run_id}" in listed
    refused = CliRunner().invoke(cli, ["train", "--resume", damaged.info.run_id, "--tracking-uri",
                                       cfg.tracking.tracking_uri])
    assert refused.exit_code == 2 and "cannot resume: checkpoint" in refused.output, refused.output
    client = MlflowClient()
    client.update_run(sound.info.run_id, status="RUNNING")
    client.set_tag(sound.info.run_id, tracking.HOST_TAG, "a-container-rescheduled-since")
    client.set_tag(sound.info.run_id, tracking.PID_TAG, "4242:1")
    asked = CliRunner().invoke(cli, ["train", "--resume", sound.info.run_id, "--tracking-uri",
                                     cfg.tracking.tracking_uri])
    assert asked.exit_code == 2 and "--force takes the run over" in asked.output, asked.output
    taken = in_process(tmp_path, monkeypatch, "train", "--resume", sound.info.run_id, "--force")
    assert taken.startswith(f"taking over run {sound.info.run_id} from host a-container-rescheduled-since")
    assert client.get_run(sound.info.run_id).info.status == "FINISHED"
