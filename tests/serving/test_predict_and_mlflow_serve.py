"""`trainlab predict` on real image files, and `mlflow models serve` on the registered champion."""
import csv
import io
import json
import os
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from tests.conftest import free_port, start_server, stop_server
from trainlab.pipeline.cli import cli


def write_png(path: Path, image: np.ndarray) -> Path:
    path.write_bytes(tf.io.encode_png(image).numpy())
    return path


def test_predict_files_and_folders(exported, mnist, tmp_path):
    cfg, _, path, _ = exported
    digit = mnist.x_test[0, ..., 0]  # a 7
    folder = tmp_path / "images"
    folder.mkdir()
    write_png(folder / "a_gray.png", digit[..., None])
    rgb = np.repeat(tf.image.resize(digit[..., None], [64, 64]).numpy().astype(np.uint8), 3, axis=-1)
    write_png(folder / "b_rgb_64.png", rgb)
    write_png(folder / "c_drawing.png", 255 - digit[..., None])  # dark strokes on white paper
    (folder / "d_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (folder / "e_notes.txt").write_text("not an image")
    result = CliRunner().invoke(cli, ["predict", str(folder), "--model-dir", str(path.parent)])
    assert result.exit_code == 1, result.output  # two files could not be read: said after the others
    lines = {line.split()[0].rsplit("/", 1)[-1]: line for line in result.output.splitlines()[1:]}
    assert lines["a_gray.png"].split()[1] == "7"
    assert lines["b_rgb_64.png"].split()[1] == "7"
    assert lines["c_drawing.png"].split()[1] == "7" and "(inverted)" in lines["c_drawing.png"]
    assert "error: not a readable" in lines["d_broken.png"] and "error:" in lines["e_notes.txt"]
    forced = CliRunner().invoke(cli, ["predict", str(folder / "a_gray.png"), "--invert", "--model-dir",
                                      str(path.parent)])
    assert "(inverted)" in forced.output and forced.exit_code == 0


def test_predict_lists_the_top_k_as_a_table_csv_or_json(exported, mnist, tmp_path):
    _, _, path, _ = exported
    image = write_png(tmp_path / "a, \"quoted\" name.png", mnist.x_test[0])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    probabilities = saved_model_predictions(path, mnist.x_test[:1])
    order = np.argsort(-probabilities[0])[:3]
    args = ["predict", str(image), "--model-dir", str(path.parent), "--top-k", "3"]
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0 and table.output.splitlines()[0].split()[1:] == [
        "class", "1", "probability", "class", "2", "probability", "class", "3", "probability"], table.output
    assert table.output.splitlines()[1].split()[-6::2] == [str(c) for c in order]
    rows = list(csv.reader(io.StringIO(CliRunner().invoke(cli, [*args, "--output", "csv"]).output)))
    assert rows[0] == ["file", "rank", "class", "probability", "inverted", "error"]
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [(str(image), str(k + 1), str(c)) for k, c in enumerate(order)]
    np.testing.assert_allclose([float(r[3]) for r in rows[1:]], probabilities[0][order], atol=1e-6)
    both = CliRunner().invoke(cli, [*args, str(tmp_path / "broken.png"), "--output", "json"])
    assert both.exit_code == 1
    answers = [json.loads(line) for line in both.output.splitlines()]
    assert [a["file"] for a in answers] == [str(image), str(tmp_path / "broken.png")]
    assert [p["class"] for p in answers[0]["predictions"]] == [str(c) for c in order]
    assert answers[1]["predictions"] == [] and answers[1]["error"].startswith("not a readable")


def saved_model_predictions(path, images):
    loaded = tf.saved_model.load(str(path))
    return loaded.signatures["serving_default"](image=tf.constant(images, tf.float32))["probabilities"].numpy()


def test_predict_uses_the_champion_export_by_default(exported, mnist, tmp_path):
    cfg, _, path, _ = exported
    image = write_png(tmp_path / "x.png", mnist.x_test[1])
    result = CliRunner().invoke(cli, ["predict", str(image), "--tracking-uri", cfg.tracking.tracking_uri,
                                      "--export-dir", cfg.export.dir])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split()[1] == str(mnist.y_test[1])


def test_predict_with_only_unreadable_files_exits_2(exported, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    result = CliRunner().invoke(cli, ["predict", str(bad), "--model-dir", str(exported[2].parent)])
    assert result.exit_code == 2 and "none of the files could be read" in result.output


# Every kind of model MLflow's Keras loader cannot rebuild without trainlab's layers, and a pretrained
# backbone (gray images repeated to three channels), each logged as training logs it.
KINDS = {"maxout": {"activation": "maxout"}, "fractional pooling": {"pooling": "fractional"},
         "ensemble": {"members": 2}, "calibrated": {"calibrate": True},
         "all of them": {"activation": "maxout", "pooling": "fractional", "members": 2, "calibrate": True},
         "backbone": {"name": "mobilenet_v3_small", "input_shape": (32, 32, 1)}}


def use_store(uri: str) -> None:
    """This process's MLflow on ``uri``, without the MLFLOW_TRACKING_URI that ``mlflow.set_tracking_uri`` exports
    (it would override the config of every later test in this process)."""
    import mlflow
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    if saved is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = saved


@pytest.fixture(scope="module")
def logged_kinds(tmp_path_factory):
    """``(store URI, {kind: model URI}, folder with each kind's inputs and Keras predictions)``."""
    import mlflow

    from tests.conftest import fresh_store
    from trainlab.models import create_model
    from trainlab.pipeline import tracking
    from trainlab.pipeline.training.stage import calibrate
    tmp = tmp_path_factory.mktemp("kinds")
    uri = fresh_store(tmp)
    use_store(uri)
    mlflow.set_experiment("kinds")
    rng = np.random.default_rng(0)
    uris = {}
    with mlflow.start_run():
        for i, (kind, options) in enumerate(KINDS.items()):
            options = dict(options)
            calibrated = options.pop("calibrate", False)
            name = options.pop("name", "cnn")
            model = create_model(name, **({"width": 4} if name == "cnn" else {}), **options)
            x = rng.integers(0, 256, (8, *model.input_shape[1:])).astype(np.float32)
            if calibrated:
                model, _ = calibrate(model, x, rng.integers(0, 10, 8))
            uris[kind] = tracking.log_model(model, 10)
            np.savez(tmp / f"{i}.npz", x=x, p=model.predict(x, verbose=0))
    return uri, uris, tmp


def test_every_kind_of_model_loads_as_pyfunc_where_trainlab_is_not_installed(logged_kinds):
    """A fresh Python that never imports trainlab itself (only the copy shipped in the logged model) loads
    each kind through mlflow.pyfunc and predicts what the Keras model predicted."""
    import subprocess
    uri, uris, folder = logged_kinds
    script = (
        "import sys, numpy as np, mlflow\n"
        f"mlflow.set_tracking_uri({uri!r})\n"
        f"for i, uri in enumerate({list(uris.values())!r}):\n"
        "    data = np.load(f'{i}.npz')\n"
        "    got = mlflow.pyfunc.load_model(uri).predict(data['x'])\n"
        "    got = np.asarray(got['probabilities'] if isinstance(got, dict) else got)\n"
        "    print('RESULT', i, float(np.abs(got - data['p']).max()))\n"
        "print('RESULT', sys.modules['trainlab'].__file__)\n")
    # -S: site-packages on the path without running its .pth files, so an installed trainlab (editable or
    # not: its folder is not on the path) cannot be imported
    import mlflow
    packages = str(Path(mlflow.__file__).parents[1])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path.append({packages!r}); exec({script!r})"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert "/artifacts/code/trainlab/" in lines[-1]  # the shipped copy, not an installed trainlab
    differences = {kind: float(line.split()[1]) for kind, line in zip(uris, lines[:-1])}
    assert set(differences) == set(KINDS) and max(differences.values()) < 1e-5, differences


@pytest.mark.slow
def test_mlflow_models_serve_answers_for_a_champion_with_every_custom_layer(logged_kinds):
    """`mlflow models serve -m models:/NAME@champion` of an ensemble of maxout, fractional-pooling
    networks with a fitted temperature."""
    import mlflow
    from mlflow.tracking import MlflowClient
    uri, uris, folder = logged_kinds
    use_store(uri)
    version = mlflow.register_model(uris["all of them"], "kinds").version
    MlflowClient().set_registered_model_alias("kinds", "champion", version)
    expected = np.load(folder / f"{list(KINDS).index('all of them')}.npz")
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    proc = start_server([str(mlflow_cli), "models", "serve", "-m", "models:/kinds@champion", "--env-manager", "local",
                         "--host", "127.0.0.1", "--port", str(port)], f"http://127.0.0.1:{port}/ping", env=env,
                        cwd=folder, timeout=180)
    try:
        body = json.dumps({"inputs": expected["x"][:2].tolist()}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
        np.testing.assert_allclose(np.asarray(answer["predictions"]), expected["p"][:2], atol=1e-5)
    finally:
        stop_server(proc)
