"""Training across devices and hosts: mirrored on 2 logical CPUs, multi-worker with 2 local processes.

Each runs in fresh processes: logical devices and multi-worker collectives must be set up before
TensorFlow starts, which the test session did long ago.
"""
import json
import re
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import free_port, fresh_store
from tests.shapes import make_shapes_folder
from trainlab.pipeline.config.loading import load_config
from trainlab.pipeline.errors import ConfigError

SMOKE = ["train", "--preset", "smoke", "--epochs", "2"]


def trainlab(args, cwd, env=None, **kwargs):
    import os
    return subprocess.Popen([sys.executable, "-m", "trainlab.pipeline.cli", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}, **kwargs)


def digest(output: str) -> str:
    return re.search(r"weights digest ([0-9a-f]{16})", output).group(1)


def streamed_folder_args(tmp_path) -> list[str]:
    """A generated 160-image folder, forced onto the streaming path, with every image in a split."""
    folder = make_shapes_folder(tmp_path / "shapes", per_class=40)
    return ["--dataset", str(folder), "--set", "data.memory_budget=0", "--set", f"data.cache_dir={tmp_path}",
            "--set", "data.limit_train=null", "--set", "data.validation_size=32", "--set", "data.limit_test=null"]


def outputs_of(procs, timeout=400) -> list[str]:
    """Each process's standard output once all have succeeded; none is left running."""
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, err[-3000:]
            outputs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outputs


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus(tmp_path):
    proc = trainlab([*SMOKE, "--tracking-uri", fresh_store(tmp_path, "m.db"), "--set", "train.strategy=mirrored",
                     "--set", "train.devices=2", "--set", "train.lr_scaling=linear"], tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "mirrored: 2 replica(s) [CPU:0, CPU:1]" in out
    run = MlflowClient(fresh_store(tmp_path, "m.db")).search_runs(["1"])[0]
    assert run.data.params["distribution.replicas"] == "2"
    assert float(run.data.params["train.effective_learning_rate"]) == 2 * float(run.data.params["train.learning_rate"])
    assert run.data.tags["trainlab.weights_digest"] == digest(out)
    assert 0.1 < run.data.metrics["test_accuracy"] <= 1


@pytest.mark.slow
@pytest.mark.parametrize("data", ["mnist", "streamed folder"])
def test_multi_worker_two_local_workers_end_identical_and_only_the_chief_logs(tmp_path, data):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    store = fresh_store(tmp_path, "mw.db")
    args = [*SMOKE, "--tracking-uri", store, "--set", "train.strategy=multi_worker"]
    if data == "streamed folder":  # each worker decodes its own share of every batch
        args += streamed_folder_args(tmp_path)
    procs = [trainlab(args, tmp_path, env={"TF_CONFIG": json.dumps({"cluster": cluster,
                                                                    "task": {"type": "worker", "index": i}})})
             for i in range(2)]
    outputs = outputs_of(procs)
    chief, worker = outputs
    assert "worker 0 of 2 (chief)" in chief and "worker 1 of 2: training cnn; the chief tracks" in worker
    assert digest(chief) == digest(worker)
    epochs = [[line.split("(")[0] for line in o.splitlines() if line.startswith("epoch ")] for o in outputs]
    assert epochs[0] == epochs[1] and len(epochs[0]) == 2  # the same global loss and accuracy on both
    runs = MlflowClient(store).search_runs(["1"])
    assert len(runs) == 1 and runs[0].data.tags["trainlab.weights_digest"] == digest(chief)
    assert runs[0].data.params["distribution.workers"] == "2"
    shares = "note: data: each of the 2 workers reads its own share of every training batch"
    assert (shares in chief) == (data == "streamed folder")


def test_multi_worker_without_tf_config_is_refused_before_anything_is_stored(tmp_path):
    import os
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    proc = subprocess.run([sys.executable, "-m", "trainlab.pipeline.cli", *SMOKE,  # no store made: it is refused first
                           "--tracking-uri", f"sqlite:///{tmp_path}/x.db", "--set", "train.strategy=multi_worker"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "needs TF_CONFIG" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "not a valid cluster spec"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}', "outside the 1 worker"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "not a valid cluster spec"),
])
def test_invalid_tf_config_is_refused(monkeypatch, tf_config, message):
    from trainlab.pipeline.runtime.distribute import _tf_config
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ConfigError, match=message):
        _tf_config()


def test_tf_config_names_the_chief(monkeypatch):
    from trainlab.pipeline.runtime.distribute import _tf_config
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, '
                                    '"task": {"type": "worker", "index": 0}}')
    assert _tf_config() == ({"chief": ["a:1"], "worker": ["b:1"]}, "worker", 0)


def test_strategy_keys_are_validated():
    with pytest.raises(ConfigError, match="train.strategy must be one of none, mirrored, multi_worker"):
        load_config(None, {"train.strategy": "horovod"})
    with pytest.raises(ConfigError, match="train.lr_scaling"):
        load_config(None, {"train.lr_scaling": "sqrt"})
    with pytest.raises(ConfigError, match="train.devices must be at least 1"):
        load_config(None, {"train.devices": 0})


def test_sync_batch_norm_rebuild_keeps_the_architecture():
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.training.model import build, synchronized_batch_norm
    plain = build(resolve_plan(load_config(None, {"model.name": "cnn", "model.width": 4})))
    synced = synchronized_batch_norm(plain)
    bns = [layer for layer in synced.layers if layer.__class__.__name__ == "BatchNormalization"]
    assert bns and all(layer.synchronized for layer in bns)
    assert synced.count_params() == plain.count_params()
    assert [type(layer) for layer in synced.layers] == [type(layer) for layer in plain.layers]


JAX_ENV = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


@pytest.mark.slow
def test_jax_data_parallel_on_two_host_cpus_trains_registers_and_exports_a_savedmodel(tmp_path):
    pytest.importorskip("jax", reason="the jax extra is installed by `make test`")
    proc = trainlab(["run", "--preset", "smoke", "--tracking-uri", fresh_store(tmp_path, "j.db"), "--export-dir",
                     str(tmp_path / "exports"), "--set", "train.strategy=data_parallel"], tmp_path, env=JAX_ENV)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "data_parallel: 2 replica(s) [cpu:0, cpu:1]" in out
    assert "exported to" in out
    export = tmp_path / "exports" / "trainlab-mnist" / "1"
    assert (export / "saved_model.pb").is_file()
    run = MlflowClient(fresh_store(tmp_path, "j.db")).search_runs(["1"])[0]
    assert run.data.params["distribution.strategy"] == "data_parallel"
    assert run.data.params["distribution.replicas"] == "2"


@pytest.mark.slow
def test_two_jax_processes_on_a_streamed_folder_each_read_their_share_and_the_chief_tests_and_exports(tmp_path):
    pytest.importorskip("jax", reason="the jax extra is installed by `make test`")
    port = free_port()
    args = ["run", *SMOKE[1:], "--tracking-uri", fresh_store(tmp_path, "j.db"), "--export-dir", str(tmp_path / "ex"),
            *streamed_folder_args(tmp_path), "--set", "train.strategy=data_parallel"]
    procs = [trainlab(args, tmp_path, env={"KERAS_BACKEND": "jax", "KERAS_DISTRIBUTION_JOB_ADDRESSES":
                                           f"127.0.0.1:{port}", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                                           "KERAS_DISTRIBUTION_PROCESS_ID": str(i)}) for i in range(2)]
    chief, worker = outputs_of(procs)
    assert "note: data: each of the 2 workers reads its own share of every training batch" in chief
    assert "worker 1 of 2: training cnn; the chief tracks and tests" in worker
    assert digest(chief) == digest(worker)  # the processes stayed in sync
    assert "exported to" in chief and (tmp_path / "ex" / "trainlab-shapes" / "1" / "saved_model.pb").is_file()


def test_tensorflow_only_layers_are_refused_under_jax(tmp_path):
    pytest.importorskip("jax", reason="the jax extra is installed by `make test`")
    proc = trainlab([*SMOKE, "--tracking-uri", fresh_store(tmp_path, "j.db"), "--set", "model.pooling=fractional"],
                    tmp_path, env=JAX_ENV)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "FractionalMaxPooling2D needs the TensorFlow backend" in err
    assert "Traceback" not in err


def test_strategies_and_backends_must_match(monkeypatch):
    import keras

    from trainlab.pipeline.runtime.distribute import spec_for
    with pytest.raises(ConfigError, match="runs on the JAX backend"):
        spec_for("data_parallel")
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    for kind in ("mirrored", "multi_worker"):
        with pytest.raises(ConfigError, match="needs the TensorFlow backend; under JAX use data_parallel"):
            spec_for(kind)
