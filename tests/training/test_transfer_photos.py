"""Photos, transfer-first: `--pretrained imagenet` on a folder is the whole recipe, its weights downloaded for
real (from an HTTP server on 127.0.0.1 that serves a weights file in Keras's layout, made from the backbone
itself, with Keras's URL and hash pointed at it), verified, cached, trained, registered, exported and served; a
weights file saved from a backbone trained here does the same; `trainlab weights` lists and imports."""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import free_port, fresh_store, start_server, stop_server
from tests.shapes import shape_photo
from trainlab.pipeline.cli import cli
from trainlab.pipeline.config.loading import load_config
from trainlab.pipeline.config.recipes import DEFAULT_BACKBONE, TRANSFER_RECIPES
from trainlab.pipeline.plan import resolve_plan

SMALL = ["--set", "data.image_size=[32, 32]", "--epochs", "2", "--set", "train.freeze_epochs=1"]  # a test's size


class Weights(http.server.ThreadingHTTPServer):
    """Serves the files of a folder on 127.0.0.1, counting the requests."""

    def __init__(self, folder: Path):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


def keras_layout_weights(path: Path) -> str:
    """MobileNetV3 Small without its classifier, random weights, written as Keras Applications' own weights files
    are (the legacy HDF5 layout ``load_weights`` reads by layer name); returns its md5."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format
    backbone = keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(32, 32, 3))
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, backbone)
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def photos(tmp_path):
    """Two classes of shape photos, 14 each, of mixed sizes (JPEG)."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for label, name in enumerate(("disc", "square")):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(14):
            side = (36, 44, 40)[i % 3]
            Image.fromarray(shape_photo(label, side, rng)).save(tmp_path / "photos" / name / f"{i}.jpg", quality=95)
    return tmp_path / "photos"


@pytest.fixture
def loopback(tmp_path, monkeypatch):
    """Keras's cache in ``tmp_path`` and MobileNetV3 Small's ImageNet URL and hash pointed at a loopback server."""
    from keras.src.applications import mobilenet_v3
    served = tmp_path / "served"
    served.mkdir()
    name = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
    md5 = keras_layout_weights(served / name)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with Weights(served) as server:
        monkeypatch.setattr(mobilenet_v3, "BASE_WEIGHT_PATH", f"http://127.0.0.1:{server.server_address[1]}/")
        hashes = dict(mobilenet_v3.WEIGHTS_HASHES)
        hashes["small_224_1.0_float"] = (hashes["small_224_1.0_float"][0], md5)
        monkeypatch.setattr(mobilenet_v3, "WEIGHTS_HASHES", hashes)
        yield server, tmp_path / "keras_home" / "models" / name, hashes


def answers(port: int, model: str, photo: Path) -> list[float]:
    body = json.dumps({"signature_name": "serving_b64",
                       "instances": [{"b64": base64.b64encode(photo.read_bytes()).decode()}]}).encode()
    url = f"http://127.0.0.1:{port}/v1/models/{model}:predict"
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=60) as response:
        return json.loads(response.read())["predictions"][0]["probabilities"]


@pytest.mark.slow
def test_imagenet_from_loopback_and_a_file_from_here_each_train_export_and_serve(photos, loopback, tmp_path,
                                                                                  monkeypatch):
    from trainlab.models.parts import classifier
    from trainlab.pipeline import tracking
    server, cached, _ = loopback
    monkeypatch.chdir(tmp_path)
    store = fresh_store(tmp_path)
    ran = CliRunner().invoke(cli, ["run", "--dataset", str(photos), "--pretrained", "imagenet", "--tracking-uri",
                                   store, *SMALL])
    assert ran.exit_code == 0, ran.output
    assert server.requests == [f"/{cached.name}"] and cached.is_file()  # downloaded once, verified, cached
    assert f"note: model.name: {DEFAULT_BACKBONE} (the transfer recipe of model.pretrained imagenet" in ran.output
    assert "note: data.resize: center_crop (transfer recipe: the aspect kept" in ran.output
    assert "note: train.backbone_bn: train (transfer recipe: the backbone's batch norm follows" in ran.output
    assert not list(cached.parent.glob(".download-*"))

    # a backbone trained here, saved as a weights file, starts the next run the same way
    trained = tracking.load_model(f"models:/trainlab-photos@{tracking.CHAMPION}")
    backbone_file = tmp_path / "photos-backbone.weights.h5"
    classifier(trained).get_layer("backbone").save_weights(backbone_file)
    ran = CliRunner().invoke(cli, ["run", "--dataset", str(photos), "--pretrained", str(backbone_file),
                                   "--tracking-uri", store, "--registered-model", "photos-file", *SMALL])
    assert ran.exit_code == 0, ran.output
    from mlflow.tracking import MlflowClient
    version = MlflowClient().get_model_version_by_alias("photos-file", tracking.CHAMPION)
    assert version.tags["pretrained"] == f"weights file {backbone_file}"
    assert len(server.requests) == 1

    port = free_port()
    proc = start_server([str(Path(sys.executable).with_name("trainlab")), "serve", "--model-dir",
                         str(tmp_path / "exports"), "--port", str(port)],
                        f"http://127.0.0.1:{port}/v1/models/photos-file")
    try:
        for model in ("trainlab-photos", "photos-file"):
            probabilities = answers(port, model, photos / "disc" / "0.jpg")
            assert len(probabilities) == 2 and sum(probabilities) == pytest.approx(1.0, abs=1e-4)
    finally:
        stop_server(proc)


def test_a_cached_copy_is_used_without_a_request_and_a_wrong_hash_caches_nothing(photos, loopback, tmp_path):
    server, cached, hashes = loopback
    settings = {"data.dataset": str(photos), "model.pretrained": "imagenet", "data.image_size": [32, 32],
                "tracking.tracking_uri": fresh_store(tmp_path)}
    first = resolve_plan(load_config(None, settings))
    assert first.pretrained.weights == str(cached) and len(server.requests) == 1
    again = resolve_plan(load_config(None, settings))
    assert again.pretrained.weights == str(cached) and len(server.requests) == 1  # the cache: no request
    cached.unlink()
    hashes["small_224_1.0_float"] = (hashes["small_224_1.0_float"][0], "0" * 32)
    ran = CliRunner().invoke(cli, ["train", "--dataset", str(photos), "--pretrained", "imagenet",
                                   "--tracking-uri", fresh_store(tmp_path, "other.db"), *SMALL])
    assert ran.exit_code == 2 and len(server.requests) == 2
    [line] = ran.stderr.splitlines()
    assert line.startswith("Error: model.pretrained: imagenet: http://127.0.0.1:") and "nothing cached" in line
    assert not any(cached.parent.iterdir())


def test_weights_lists_the_cache_and_imports_only_a_file_keras_would_accept(loopback, tmp_path):
    _, cached, _ = loopback
    listed = CliRunner().invoke(cli, ["weights"])
    assert listed.exit_code == 0 and f"Keras's cache: {cached.parent}" in listed.output
    assert f"{DEFAULT_BACKBONE}  md5 " in listed.output and "not cached: http://127.0.0.1:" in listed.output
    wrong = tmp_path / "downloaded.h5"
    wrong.write_bytes(b"not weights")
    ran = CliRunner().invoke(cli, ["weights", "import", str(wrong)])
    assert ran.exit_code == 2 and len(ran.output.splitlines()) == 1
    assert "is not the ImageNet weights of any backbone" in ran.output and not cached.exists()
    ran = CliRunner().invoke(cli, ["weights", "import", str(tmp_path / "served" / cached.name)])
    assert ran.exit_code == 0 and f"the ImageNet weights of {DEFAULT_BACKBONE}" in ran.output and cached.is_file()
    from trainlab.pipeline.imagenet import status
    assert status(DEFAULT_BACKBONE).present and status(DEFAULT_BACKBONE).path == cached


def test_the_recipe_goes_under_what_a_user_sets_and_a_cnn_is_one_line_naming_the_backbones(tmp_path):
    from trainlab.models.backbones import BACKBONES
    assert set(TRANSFER_RECIPES) == set(BACKBONES)
    for name, recipe in TRANSFER_RECIPES.items():  # each backbone's recipe trains at its native size
        assert recipe["data.image_size"][0] == [BACKBONES[name].native_size] * 2
    cfg = load_config(None, {"model.pretrained": "imagenet", "train.epochs": 3, "data.dataset": "mnist"})
    assert (cfg.model.name, cfg.train.epochs, cfg.train.freeze_epochs) == (DEFAULT_BACKBONE, 3, 2)
    assert load_config(None, {"model.pretrained": "imagenet", "model.name": "resnet50_v2"}).model.name == "resnet50_v2"
    assert load_config(None, {}).model.name == "cnn_deep" and load_config(None, {}).train.freeze_epochs == 0
    ran = CliRunner().invoke(cli, ["train", "--pretrained", "imagenet", "--model", "cnn", "--tracking-uri",
                                   fresh_store(tmp_path)])
    assert ran.exit_code == 2 and len(ran.output.splitlines()) == 1
    assert "imagenet weights exist for the keras.applications models (mobilenet_v3_small" in ran.output
