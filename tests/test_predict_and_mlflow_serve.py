"""`trainlab predict` on real image files, and `mlflow models serve` on the registered champion."""
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
    assert result.exit_code == 0, result.output
    lines = {line.split()[0].rsplit("/", 1)[-1]: line for line in result.output.splitlines()[1:]}
    assert lines["a_gray.png"].split()[1] == "7"
    assert lines["b_rgb_64.png"].split()[1] == "7"
    assert lines["c_drawing.png"].split()[1] == "7" and "(inverted)" in lines["c_drawing.png"]
    assert "error: not a readable" in lines["d_broken.png"] and "error:" in lines["e_notes.txt"]
    forced = CliRunner().invoke(cli, ["predict", str(folder / "a_gray.png"), "--invert", "--model-dir",
                                      str(path.parent)])
    assert "(inverted)" in forced.output


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


@pytest.mark.slow
def test_mlflow_models_serve_answers_for_the_champion(exported, mnist):
    cfg, _, _, _ = exported
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{Path(cfg.tracking.tracking_uri[10:]).resolve()}",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    mlflow = Path(sys.executable).parent / "mlflow"
    proc = start_server([str(mlflow), "models", "serve", "-m", f"models:/{cfg.tracking.registered_model}@champion",
                         "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
                        f"http://127.0.0.1:{port}/ping", env=env, timeout=180)
    try:
        body = json.dumps({"inputs": mnist.x_test[:2].astype(float).tolist()}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
        predictions = np.asarray(answer["predictions"])
        assert predictions.shape == (2, 10)
        assert predictions.argmax(1).tolist() == [7, 2]
    finally:
        stop_server(proc)
