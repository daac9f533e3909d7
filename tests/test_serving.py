"""The real REST server on a free local port: every endpoint and error case."""
import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import free_port, start_server, stop_server

NAME = "trainlab-mnist"


@pytest.fixture(scope="module")
def server(_exported):
    cfg, _, path, _ = _exported
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1/models/{NAME}"
    trainlab = Path(sys.executable).parent / "trainlab"
    proc = start_server([str(trainlab), "serve", "--model-dir", str(path.parent), "--port", str(port)], base)
    yield base, path, proc
    stop_server(proc)


def call(url, body=None, method=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def saved_model_predictions(path, images):
    loaded = tf.saved_model.load(str(path))
    outputs = loaded.signatures["serving_default"](image=tf.constant(images, tf.float32))
    return {k: v.numpy() for k, v in outputs.items()}


def png_b64(image: np.ndarray) -> str:
    return base64.b64encode(tf.io.encode_png(image[..., None]).numpy()).decode()


def test_status_and_version_status(server):
    base, _, _ = server
    assert call(base) == (200, {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    assert call(f"{base}/versions/1")[0] == 200


def test_metadata_describes_the_signatures(server):
    status, meta = call(f"{server[0]}/metadata")
    assert status == 200 and meta["model_spec"] == {"name": NAME, "signature_name": "", "version": "1"}
    signatures = meta["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "serving_uint8", "serving_b64"}
    assert signatures["serving_b64"]["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
    assert meta["trainlab"]["class_names"] == [str(i) for i in range(10)]


def test_row_and_columnar_predictions_equal_the_saved_model(server, mnist):
    base, path, _ = server
    images = mnist.x_test[:5, ..., 0]
    expected = saved_model_predictions(path, images)
    status, rows = call(f"{base}:predict", {"instances": images.tolist()})
    assert status == 200 and [p["classes"] for p in rows["predictions"]] == expected["classes"].tolist()
    np.testing.assert_allclose([p["probabilities"] for p in rows["predictions"]], expected["probabilities"], atol=1e-6)
    status, cols = call(f"{base}/versions/1:predict", {"inputs": {"image": images[..., None].tolist()}})
    assert status == 200 and cols["outputs"]["classes"] == expected["classes"].tolist()
    status, named = call(f"{base}:predict", {"instances": [{"image": im.tolist()} for im in images]})
    assert status == 200 and named["predictions"] == rows["predictions"]


def test_uint8_and_b64_signatures(server, mnist):
    base, path, _ = server
    images = mnist.x_test[:3, ..., 0]
    expected = saved_model_predictions(path, images)["classes"].tolist()
    _, uint8 = call(f"{base}:predict", {"signature_name": "serving_uint8", "instances": images.tolist()})
    assert [p["classes"] for p in uint8["predictions"]] == expected
    body = {"signature_name": "serving_b64", "instances": [{"b64": png_b64(im)} for im in images]}
    status, b64 = call(f"{base}:predict", body)
    assert status == 200 and [p["classes"] for p in b64["predictions"]] == expected
    status, cols = call(f"{base}:predict", {"signature_name": "serving_b64",
                                            "inputs": {"image_bytes": [{"b64": png_b64(images[0])}]}})
    assert status == 200 and cols["outputs"]["classes"] == expected[:1]


ZEROS = np.zeros((1, 28, 28)).tolist()
BAD = [
    ("not json", None, b"{nope", 400, "not valid JSON"),
    ("not an object", [1, 2], None, 400, "JSON object"),
    ("both formats", {"instances": ZEROS, "inputs": ZEROS}, None, 400, "exactly one of"),
    ("neither", {"signature_name": "serving_default"}, None, 400, "exactly one of"),
    ("unknown field", {"instances": ZEROS, "extra": 1}, None, 400, "unknown request field"),
    ("empty", {"instances": []}, None, 400, "non-empty list"),
    ("rank 2", {"instances": [[1, 2], [3, 4]]}, None, 400, "has shape [2, 2]"),
    ("rank 1 inputs", {"inputs": [1, 2, 3]}, None, 400, "has shape [3]"),
    ("scalar", {"inputs": 3}, None, 400, "must be a list of images"),
    ("3 channels", {"instances": np.zeros((1, 28, 28, 3)).tolist()}, None, 400, "has shape [1, 28, 28, 3]"),
    ("wrong size", {"instances": np.zeros((1, 27, 28)).tolist()}, None, 400, "has shape [1, 27, 28]"),
    ("rank 5", {"instances": np.zeros((1, 28, 28, 1, 1)).tolist()}, None, 400, "has shape"),
    ("ragged", {"instances": [[[0] * 28] * 28, [[0] * 27] * 28]}, None, 400, "rectangular array"),
    ("strings", {"instances": [[["a"] * 28] * 28]}, None, 400, "rectangular array of numbers"),
    ("negative", {"instances": (np.zeros((1, 28, 28)) - 1).tolist()}, None, 400, "must lie in [0, 255]"),
    ("too bright", {"instances": (np.zeros((1, 28, 28)) + 300).tolist()}, None, 400, "must lie in [0, 255]"),
    ("nan", None, b'{"instances": [[[NaN]]]}', 400, "shape"),
    ("fraction for uint8", {"signature_name": "serving_uint8", "instances": (np.zeros((1, 28, 28)) + .5).tolist()},
     None, 400, "must hold integers"),
    ("unknown signature", {"signature_name": "nope", "instances": ZEROS}, None, 400, "no signature 'nope'"),
    ("unknown input", {"instances": [{"pixels": ZEROS[0]}]}, None, 400, "unknown input(s) pixels"),
    ("bad base64", {"signature_name": "serving_b64", "instances": [{"b64": "%%%"}]}, None, 400, "not valid base64"),
    ("not an image", {"signature_name": "serving_b64", "instances": [{"b64": base64.b64encode(b"hello").decode()}]},
     None, 400, "not a PNG, JPEG, GIF or BMP"),
    ("corrupt png", {"signature_name": "serving_b64",
                     "instances": [{"b64": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"x" * 50).decode()}]},
     None, 400, "the model rejected the input"),
    ("pixels to b64", {"signature_name": "serving_b64", "instances": ZEROS}, None, 400, "must be {\"b64\""),
    ("batch too large", {"instances": np.zeros((1025, 28, 28), np.uint8).tolist()}, None, 413, "exceeds the limit"),
]


@pytest.mark.parametrize("label, body, raw, status, message", BAD, ids=[b[0] for b in BAD])
def test_malformed_requests_get_4xx_json(server, label, body, raw, status, message):
    got_status, answer = call(f"{server[0]}:predict", body, raw=raw)
    assert got_status == status and message in answer["error"], answer


@pytest.mark.parametrize("path, method, status, message", [
    ("/v1/models/other", "GET", 404, "is not served"),
    ("/v1/models/trainlab-mnist/versions/9", "GET", 404, "has no version 9"),
    ("/v1/models/trainlab-mnist:classify", "POST", 404, "':classify' is not supported"),
    ("/v1/models/trainlab-mnist:predict", "GET", 405, "takes POST"),
    ("/v1/models/trainlab-mnist", "DELETE", 405, "not allowed"),
    ("/v2/anything", "GET", 404, "unknown path"),
])
def test_routing_errors(server, path, method, status, message):
    root = server[0].split("/v1/")[0]
    got_status, answer = call(root + path, method=method)
    assert got_status == status and message in answer["error"]


def test_oversized_body_is_refused_unread(server):
    import http.client
    from urllib.parse import urlparse
    url = urlparse(f"{server[0]}:predict")
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.putrequest("POST", url.path)
    connection.putheader("Content-Length", str(17 * 1024 * 1024))
    connection.endheaders()  # the body is never sent: the size alone is refused
    response = connection.getresponse()
    assert response.status == 413 and "exceeds the limit" in json.loads(response.read())["error"]
    connection.close()


def test_hundreds_of_malformed_requests_leave_it_up_and_correct(server, mnist):
    base, path, proc = server
    shapes = [(2, 28), (28, 28), (1, 28, 28, 3), (1, 1, 28, 28), (3,), (1, 28, 27)]
    for i in range(300):
        body = {"instances": np.zeros(shapes[i % len(shapes)]).tolist()} if i % 2 else {"inputs": i}
        assert call(f"{base}:predict", body)[0] == 400
    assert proc.poll() is None
    status, answer = call(f"{base}:predict", {"instances": mnist.x_test[:2].tolist()})
    expected = saved_model_predictions(path, mnist.x_test[:2])["classes"].tolist()
    assert status == 200 and [p["classes"] for p in answer["predictions"]] == expected
