import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from trainlab.pipeline.cli import cli

COMMANDS = ["data", "train", "evaluate", "register", "export", "run", "ui", "models", "augmentations",
            "augment-preview", "lr-find", "runs"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder holding a store where `trainlab run --preset smoke` has run once."""
    path = tmp_path_factory.mktemp("cli")
    old = os.getcwd()
    os.chdir(path)
    try:
        result = CliRunner().invoke(cli, ["run", "--preset", "smoke"])
        assert result.exit_code == 0, result.output
        yield path, result.output
    finally:
        os.chdir(old)


def invoke(workdir, *args):
    old = os.getcwd()
    os.chdir(workdir[0])
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        os.chdir(old)


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "Usage: cli " + command in result.output.replace("trainlab", "cli")


def test_models_lists_the_registry():
    from trainlab.models import list_models
    out = CliRunner().invoke(cli, ["models"]).output
    assert [line.split()[0] for line in out.splitlines()] == list_models()


def test_augmentations_lists_ops_and_parameters():
    from trainlab.augment import list_augmentations
    out = CliRunner().invoke(cli, ["augmentations"]).output
    for name in list_augmentations():
        assert f"\n{name} " in "\n" + out
    assert "padding=2" in out and "keras_cv.<Layer>" in out


def test_augment_preview_writes_a_png(tmp_path):
    out = tmp_path / "aug.png"
    result = CliRunner().invoke(cli, ["augment-preview", "--out", str(out), "--draws", "2",
                                      "--augment", "[{name: cutout, size: 8}, {name: cutmix}]"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_data_prints_facts_and_writes_a_grid(tmp_path):
    grid = tmp_path / "grid.png"
    result = CliRunner().invoke(cli, ["data", "--grid", str(grid)])
    assert result.exit_code == 0, result.output
    assert "55000 train / 5000 validation / 10000 test" in result.output
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_trains_registers_evaluates_and_exports(workdir):
    path, out = workdir
    assert "as champion" in out and "exported to exports/trainlab-mnist/1" in out
    assert (path / "mlflow.db").is_file() and (path / "exports/trainlab-mnist/1/saved_model.pb").is_file()


def test_evaluate_the_champion(workdir):
    result = invoke(workdir, "evaluate", "--limit-test", "300", "--mistakes", "6", "--mistakes-file", "m/wrong.png")
    assert result.exit_code == 0, result.output
    assert "models:/trainlab-mnist@champion" in result.output and "(300 images)" in result.output
    assert "confusion matrix" in result.output and result.output.count("\n") > 20
    assert "macro F1" in result.output and "precision  recall      F1  support" in result.output
    from PIL import Image
    assert Image.open(workdir[0] / "m" / "wrong.png").size[0] > 300


def test_train_then_register_the_latest_run(workdir):
    result = invoke(workdir, "--quiet", "train", "--preset", "smoke", "--seed", "7", "--model", "mlp_small")
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()   # --quiet: the final line only
    assert re.fullmatch(r"run [0-9a-f]{32}: test accuracy 0\.\d{4} \(best validation 0\.\d{4} at epoch \d\)", line)
    trained = line.split()[1].rstrip(":")
    # an lr-find run after it is newer, finished, and has no model: register skips it
    result = invoke(workdir, "lr-find", "--preset", "smoke", "--steps", "20")
    assert result.exit_code == 0, result.output
    result = invoke(workdir, "register")
    assert result.exit_code == 0 and "registered trainlab-mnist version 2" in result.output, result.output
    from mlflow.tracking import MlflowClient
    assert MlflowClient().get_model_version("trainlab-mnist", "2").run_id == trained


def test_dataset_help_names_every_kind_of_source():
    result = CliRunner().invoke(cli, ["train", "--help"], terminal_width=400)
    assert ("a registered name (mnist, fashion_mnist) or a path: an image folder, a CIFAR-10/100 archive or folder, "
            "a keras .npz file, an IDX folder [data.dataset]") in " ".join(result.output.split())


def test_ui_loads_no_tensorflow(tmp_path):
    """`trainlab ui` hands over to MLflow's server: reading the store's config must not load TensorFlow (the
    model and augmentation registries are not checked for it)."""
    probe = ("import os, sys\n"
             "os.execve = lambda *a: sys.exit(3 if 'tensorflow' in sys.modules else 0)\n"
             "from trainlab.pipeline.cli import main\n"
             "sys.argv = ['trainlab', 'ui', '--tracking-uri', 'sqlite:///m.db']\n"
             "main()\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_train_with_lecture_options(workdir):
    result = invoke(workdir, "train", "--preset", "smoke", "--model", "mlp_deep", "--width", "16", "--depth", "3",
                    "--activation", "maxout", "--model-norm", "layer", "--dropout", "0.2", "--l2", "0.0001",
                    "--optimizer", "sgd", "--lr", "0.05", "--schedule", "one_cycle", "--label-smoothing", "0.1",
                    "--set", "train.nesterov=true", "--augment", "[{name: mixup, alpha: 0.4}]", "--calibrate",
                    "--tta", "[{name: shift, pixels: 1}]")
    assert result.exit_code == 0, result.output
    assert "fit: " in result.output and "calibrated: temperature " in result.output
    assert re.search(r"test-time augmentation \(5 views\): validation accuracy 0\.\d{4} \(plain 0\.\d{4}\), "
                     r"test 0\.\d{4} \(plain 0\.\d{4}\)", result.output)


def test_export_keeps_the_existing_version_and_adds_formats(workdir):
    result = invoke(workdir, "export")
    assert result.exit_code == 0 and "left as it is" in result.output
    result = invoke(workdir, "export", "--format", "onnx", "--opset", "17")
    assert result.exit_code == 0, result.output
    assert re.search(r"exported onnx to \S+/1\.onnx \(max \|difference\| \S+ on 1000 images \(onnxruntime\)\)",
                     result.output), result.output


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "nope"], "model.name must be one of cnn, cnn_deep, cnn_keras"),
    (["train", "--dataset", "nope"], "unknown dataset 'nope': use one of fashion_mnist, mnist"),
    (["train", "--set", "train.nope=1"], "unknown config key 'train.nope'"),
    (["train", "--set", "train.epochs=x"], "train.epochs must be a int"),
    (["train", "--lr", "0"], "train.learning_rate must be > 0"),
    (["train", "--batch-size", "0"], "train.batch_size must be at least 1"),
    (["train", "--epochs", "0"], "train.epochs must be at least 1"),
    (["train", "--validation-size", "60000"],
     "data.validation_size (60000) must be smaller than the 60000 training images of mnist"),
    (["train", "--config", "missing.yml"], "config file missing.yml does not exist"),
    (["train", "--config", "broken.yml"], "cannot parse config file broken.yml"),
    (["train", "--tracking-uri", "sqlite:///no/such/folder/m.db"], "folder no/such/folder does not exist"),
    (["train", "--model", "cnn", "--depth", "3", "--preset", "smoke"], "model.depth is not an option of model 'cnn'"),
    (["export"], "has no champion yet"),
    (["evaluate", "--run-id", "abc", "--model-uri", "x"], "not both"),
    (["register", "--run-id", "f" * 32], "no run with id"),
    (["train", "--augment", "[{name: spin}]"], "augment[0]: unknown augmentation 'spin'"),
    (["train", "--preset", "smoke", "--activation", "swish"], "model.activation must be one of sigmoid"),
    (["train", "--preset", "smoke", "--model-norm", "group"], "normalization must be one of none, batch, layer"),
    (["train", "--preset", "smoke", "--set", "model.maxout_pieces=1", "--activation", "maxout"],
     "maxout_pieces must be an integer >= 2"),
    (["train", "--schedule", "linear"], "train.lr_schedule must be one of constant, step, cosine, one_cycle"),
    (["train", "--loss", "hinge"], "train.loss must be one of categorical_crossentropy, mse"),
    (["train", "--early-stopping", "-1"], "train.early_stopping must be at least 0"),
    (["lr-find", "--start", "1", "--end", "0.1"], "must be below --end"),
    (["augment-preview", "--augment", "none"], "the augmentation chain is empty"),
    # click's own usage errors, one line too
    (["train", "--resume", "--epochs", "3"], "--resume continues a run with its own config: drop train.epochs"),
    (["train", "--epochs", "many"], "Invalid value for '--epochs': 'many' is not a valid integer"),
    (["nope"], "No such command 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "broken.yml").write_text("train: [1,\n")
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(cli, args)
    finally:
        os.chdir(old)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: ") and message in line
    assert isinstance(result.exception, SystemExit)


@pytest.mark.slow
def test_ui_serves_the_store_on_localhost(workdir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    trainlab = Path(sys.executable).parent / "trainlab"
    proc = subprocess.Popen([str(trainlab), "ui", "--port", str(port)], cwd=workdir[0], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, body = time.time() + 90, None
        while time.time() < deadline and proc.poll() is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        assert body == b"OK", f"UI did not answer (exit code {proc.poll()})"
        runs = urllib.request.urlopen(
            f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name=trainlab",
            timeout=5).read()
        assert b'"name": "trainlab"' in runs or b'"name":"trainlab"' in runs
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
