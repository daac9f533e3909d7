"""Serving as TF Serving does: versions loaded and unloaded while requests run, version policies, labels,
several model names, a model config file, server-side batching, a bare serve/predict.

The models are tiny real SavedModels (a softmax layer whose bias picks one class), exported in a second
each, so every version answers a class of its own."""
import asyncio
import base64
import json
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from tests.conftest import free_port, fresh_store, start_server, stop_server
from trainlab.pipeline.cli import cli
from trainlab.pipeline.errors import ConfigError, TrackingError
from trainlab.pipeline.serving.batching import Batcher
from trainlab.pipeline.serving.model import ServedModel, VersionPolicy
from trainlab.pipeline.serving.repository import ModelRepository, discover, from_config_file


def export_tiny(root: Path, name: str, version: int, answer: int, champion: bool = False) -> Path:
    """``root/name/version``: a model that answers class ``answer`` for every image."""
    import keras

    from trainlab.pipeline.export.stage import export_saved_model
    bias = keras.initializers.Constant(np.eye(10)[answer] * 5)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, "softmax", kernel_initializer="zeros", bias_initializer=bias)])
    metadata = {"source_uri": f"models:/{name}@champion"} if champion else {"source_uri": "runs:/x/model"}
    return export_saved_model(model, root, name, version, metadata=metadata)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Two model names: ``digits`` (v1 answers 1, v2 answers 2 and is the champion) and ``other`` (v1: 7)."""
    root = tmp_path_factory.mktemp("exports")
    export_tiny(root, "digits", 1, 1)
    export_tiny(root, "digits", 2, 2, champion=True)
    export_tiny(root, "other", 1, 7)
    return root


def classes(model: ServedModel, version: str | None = None) -> int:
    outputs = model.version(version).signatures["serving_default"]({"image": np.zeros((1, 28, 28, 1), np.float32)})
    return int(outputs["classes"][0])


@pytest.mark.parametrize("text, selected", [("all", ["1", "2", "10"]), ("latest:2", ["2", "10"]),
                                            ("latest:5", ["1", "2", "10"]), ("specific:1,10", ["1", "10"])])
def test_version_policies_select_as_tf_serving_does(text, selected):
    assert VersionPolicy.parse(text).select(["10", "1", "2"]) == selected


@pytest.mark.parametrize("text", ["latest", "latest:0", "specific:", "newest:2", "all:1", "specific:a"])
def test_a_bad_version_policy_is_one_clear_error(text):
    with pytest.raises(TrackingError, match="expected all, latest:N"):
        VersionPolicy.parse(text)


def test_refresh_loads_new_versions_unloads_dropped_ones_and_labels_the_champion(tmp_path):
    export_tiny(tmp_path, "m", 1, 1)
    model = ServedModel(tmp_path / "m", policy=VersionPolicy.parse("latest:1"))
    assert sorted(model.versions) == ["1"] and model.labels == {} and classes(model) == 1
    kept = model.version("1")
    export_tiny(tmp_path, "m", 2, 2, champion=True)
    assert model.refresh() == (["2"], ["1"])
    assert sorted(model.versions) == ["2"] and model.labels == {"champion": "2"} and classes(model) == 2
    # a request that picked version 1 before the switch still gets an answer from it
    assert int(kept.signatures["serving_default"]({"image": np.zeros((1, 28, 28, 1), np.float32)})["classes"][0]) == 1
    assert model.refresh() == ([], [])
    assert model.refresh(champion="7") == ([], []) and model.labels == {}  # the store's champion is not loaded
    broken = tmp_path / "m" / "3"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    repository = ModelRepository([model])
    (line,) = repository.refresh()
    assert line.startswith("m: version 3 did not load (tried again at every poll): ")
    assert sorted(model.versions) == ["2"]
    assert repository.refresh() == []  # said once


def test_a_folder_of_exports_serves_every_name_and_a_config_file_sets_policy_and_labels(exports, tmp_path):
    found = {m.name: m for m in discover(exports)}
    assert sorted(found) == ["digits", "other"] and sorted(found["digits"].versions) == ["1", "2"]
    assert found["digits"].labels == {"champion": "2"} and classes(found["other"]) == 7
    config = tmp_path / "models.yaml"
    config.write_text(f"models:\n  - name: stable-digits\n    base_path: {exports / 'digits'}\n"
                      "    version_policy: specific:1\n    labels: {stable: 1, canary: 2}\n")
    (model,) = from_config_file(config)
    assert model.name == "stable-digits" and sorted(model.versions) == ["1"]
    assert model.labels == {"stable": "1"}  # canary names a version the policy does not load
    repository = ModelRepository([model])
    assert repository.find("stable-digits", label="stable")[1] == "1"


@pytest.mark.parametrize("text, message", [
    ("models: []", "expected a 'models' list"),
    ("models:\n  - name: x", "needs 'name' and 'base_path'"),
    ("models:\n  - {name: x, base_path: ., policy: all}", "unknown field(s) policy"),
    ("models: [", "model config"),
])
def test_a_bad_model_config_is_one_line_and_exit_2(tmp_path, text, message):
    (config := tmp_path / "models.yaml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_config_file(config)
    result = CliRunner().invoke(cli, ["serve", "--model-config", str(config)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output


def test_batched_calls_answer_each_request_its_own_rows_and_isolate_a_bad_image(exports, mnist):
    from trainlab.pipeline.serving.model import ModelVersion
    version = ModelVersion(exports / "digits" / "2")
    signature = version.signatures["serving_default"]
    calls, sizes = [], []

    def counted(inputs):
        calls.append(len(inputs["image"]))
        return signature(inputs)
    requests = [{"image": mnist.x_test[i:i + 1 + i % 3].astype(np.float32)} for i in range(24)]
    batcher = Batcher(max_size=16, timeout=0.05, observe=sizes.append)

    async def send_all(call, items):
        return await asyncio.gather(*(call(counted, r) for r in items), return_exceptions=True)
    answers = asyncio.run(send_all(batcher, requests))
    for request, answer in zip(requests, answers):
        alone = signature(request)
        assert np.array_equal(answer["classes"], alone["classes"])
        np.testing.assert_allclose(answer["probabilities"], alone["probabilities"], rtol=1e-6)
    assert sum(sizes) == sum(len(r["image"]) for r in requests) and max(sizes) <= 16
    assert len(calls) < len(requests) / 3  # joined into a few model calls

    encoded = version.signatures["serving_b64"]
    png = tf.io.encode_png(mnist.x_test[0]).numpy()
    items = [{"image_bytes": np.array([png], dtype=object)} for _ in range(5)]
    items[2] = {"image_bytes": np.array([b"\x89PNG\r\n\x1a\n broken"], dtype=object)}
    answers = asyncio.run(_gather(Batcher(8, 0.05), encoded, items))
    assert [isinstance(a, Exception) for a in answers] == [False, False, True, False, False]


async def _gather(batcher, signature, items):
    return await asyncio.gather(*(batcher(signature, i) for i in items), return_exceptions=True)


def call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_running_server_switches_versions_without_failing_a_request(exports, tmp_path, mnist):
    import shutil
    root = tmp_path / "exports"
    shutil.copytree(exports, root)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    trainlab = str(Path(sys.executable).parent / "trainlab")
    proc = start_server([trainlab, "serve", "--model-dir", str(root), "--port", str(port), "--poll-seconds", "0.2",
                         "--batch-max-size", "8"], f"{url}/v2/health/ready")
    failures, answered, stop = [], [], threading.Event()
    image = mnist.x_test[:1].tolist()
    png = base64.b64encode(tf.io.encode_png(mnist.x_test[0]).numpy()).decode()

    def client(i):
        while not stop.is_set():
            body = {"instances": image} if i % 2 else {"signature_name": "serving_b64", "instances": [{"b64": png}]}
            status, answer = call(f"{url}/v1/models/digits:predict", body)
            if status != 200:
                failures.append((status, answer))
            else:
                answered.append(answer["predictions"][0]["classes"])
    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        assert call(f"{url}/v1/models/digits/labels/champion")[1]["model_version_status"][0]["version"] == "2"
        export_tiny(root, "digits", 3, 3)
        deadline = time.time() + 60
        while call(f"{url}/v1/models/digits/versions/3")[0] != 200 and time.time() < deadline:
            time.sleep(0.1)
        shutil.rmtree(root / "digits" / "1")
        while call(f"{url}/v1/models/digits/versions/1")[0] != 404 and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        assert not failures and {2, 3} <= set(answered)
        status = call(f"{url}/v1/models/digits")[1]["model_version_status"]
        assert [s["version"] for s in status] == ["2", "3"]
        assert call(f"{url}/v1/models/digits/labels/champion")[1]["model_version_status"][0]["version"] == "2"
        assert call(f"{url}/v1/models/digits/labels/stable") == (
            404, {"error": "model 'digits' has no label 'stable'; labels: champion"})
        inferred = call(f"{url}/v2/models/other/versions/1/infer", {"inputs": [
            {"name": "image", "shape": [1, 28, 28, 1], "datatype": "UINT8", "data": image}]})[1]
        assert {o["name"]: o["data"] for o in inferred["outputs"]}["classes"] == [7]
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert 'trainlab_loaded_versions{model="digits"} 2.0' in text
        assert 'trainlab_loaded_versions{model="other"} 1.0' in text
        figures = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line[0] != "#"}
        # every image went through the batcher (the predictions and the one v2 infer), in fewer model calls
        assert figures["trainlab_batch_size_sum"] == len(answered) + 1
        assert figures["trainlab_batch_size_count"] < figures["trainlab_batch_size_sum"]
    finally:
        stop.set()
        stop_server(proc)


def test_bare_predict_takes_the_most_recent_export_and_says_so(exports, tmp_path, mnist):
    import os
    png = tmp_path / "x.png"
    png.write_bytes(tf.io.encode_png(mnist.x_test[0]).numpy())
    os.utime(exports / "other" / "1", (time.time() + 5, time.time() + 5))
    store = fresh_store(tmp_path)
    result = CliRunner().invoke(cli, ["predict", str(png), "--tracking-uri", store, "--export-dir", str(exports)])
    assert result.exit_code == 0, result.output
    assert "using other version 1, the most recently exported of digits, other" in result.output
    assert result.output.strip().splitlines()[-1].split()[1] == "7"
    empty = CliRunner().invoke(cli, ["predict", str(png), "--tracking-uri", store, "--export-dir",
                                     str(tmp_path / "none")])
    assert empty.exit_code == 2 and "has no champion yet" in empty.output and "nothing is exported" in empty.output
