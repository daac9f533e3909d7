"""A user's folder of color images, all the way: `trainlab run --dataset DIR` trains, registers and
exports; `trainlab serve` answers REST requests for it; `trainlab predict` and Keras agree with it."""
import base64
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from tests.conftest import free_port, fresh_store, start_server, stop_server
from tests.files import SHAPES, make_image_folder, shape_image
from tests.serving.test_serving import call
from trainlab.pipeline.cli import cli

NAME = "shapes-model"


@pytest.fixture(scope="module")
def color_run(tmp_path_factory):
    """The smoke recipe on a generated folder of 3 classes of color shapes, resized to 32x32."""
    tmp = tmp_path_factory.mktemp("color")
    folder = make_image_folder(tmp / "shapes", per_class=60)
    old = os.getcwd()
    os.chdir(tmp)
    try:
        result = CliRunner().invoke(cli, [
            "run", "--preset", "smoke", "--dataset", str(folder), "--set", "data.image_size=[32, 32]",
            "--set", "data.limit_train=none", "--validation-size", "30", "--epochs", "3", "--augment",
            "[{name: flip_horizontal, p: 0.5}, {name: random_crop, padding: 2}]",
            "--tracking-uri", fresh_store(tmp, "m.db"), "--registered-model", NAME,
            "--export-dir", str(tmp / "exports")])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return tmp, result.output


def test_the_run_reports_skipped_files_and_exports_the_color_shape(color_run):
    tmp, output = color_run
    assert re.search(r"warning: skipped 2 file\(s\) that are not readable images: .*(broken.png|notes.txt)", output)
    assert f"exported to {tmp}/exports/{NAME}/1" in output
    import json
    meta = json.loads((tmp / "exports" / NAME / "1" / "assets.extra" / "trainlab.json").read_text())
    assert meta["image_shape"] == [32, 32, 3] and meta["class_names"] == ["bar", "disc", "square"]
    assert len(meta["normalization"]["mean"].split(",")) == 3


@pytest.fixture(scope="module")
def images(color_run):
    """Fresh 32x32 pictures of each class, as arrays and as PNG files."""
    tmp, _ = color_run
    rng = np.random.default_rng(7)
    names = sorted(SHAPES)
    pictures = np.stack([shape_image(SHAPES[name], 32, 32, rng) for name in names for _ in range(3)])
    files = []
    for i, picture in enumerate(pictures):
        path = tmp / f"picture{i}.png"
        path.write_bytes(tf.io.encode_png(picture).numpy())
        files.append(path)
    return pictures, files, [n for n in names for _ in range(3)]


def test_serve_predict_and_keras_agree_on_color_images(color_run, images):
    from trainlab.pipeline import tracking
    from trainlab.pipeline.config.schema import TrackingConfig
    tmp, _ = color_run
    pictures, files, truth = images
    tracking.configure(TrackingConfig(tracking_uri=fresh_store(tmp, "m.db")))
    keras_probs = tracking.load_model(f"models:/{NAME}@champion").predict(pictures.astype("float32"), verbose=0)

    port = free_port()
    base = f"http://127.0.0.1:{port}/v1/models/{NAME}"
    trainlab = Path(sys.executable).parent / "trainlab"
    proc = start_server([str(trainlab), "serve", "--model-dir", str(tmp / "exports" / NAME), "--port", str(port)],
                        base)
    try:
        status, body = call(f"{base}:predict", {"instances": pictures.tolist()})
        assert status == 200, body
        rest_probs = np.array([p["probabilities"] for p in body["predictions"]])
        b64 = [{"b64": base64.b64encode(f.read_bytes()).decode()} for f in files]
        status, encoded = call(f"{base}:predict", {"signature_name": "serving_b64", "instances": b64})
        assert status == 200, encoded
        status, wrong = call(f"{base}:predict", {"instances": pictures[:, :, :, :1].tolist()})
        assert status == 400 and "expected [N, 32, 32, 3]" in wrong["error"]
    finally:
        stop_server(proc)
    np.testing.assert_allclose(rest_probs, keras_probs, atol=1e-5)
    np.testing.assert_allclose([p["probabilities"] for p in encoded["predictions"]], keras_probs, atol=1e-4)

    result = CliRunner().invoke(cli, ["predict", *map(str, files), "--model-dir", str(tmp / "exports" / NAME)])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.strip().splitlines()[1:]]
    class_names = ["bar", "disc", "square"]
    for row, probs in zip(rows, keras_probs):
        assert row[1] == class_names[int(np.argmax(probs))]
        assert float(row[2]) == pytest.approx(float(probs.max()), abs=1e-4)
        assert "(inverted)" not in " ".join(row)  # color pictures are never inverted
    # It learned the shapes: far above chance (1/3) on fresh pictures.
    assert np.mean([class_names[int(np.argmax(p))] == t for p, t in zip(keras_probs, truth)]) >= 2 / 3
