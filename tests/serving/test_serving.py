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
    assert set(signatures) == {"serving_default", "serving_uint8", "serving_b64", "serving_explain"}
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
    ("nan", None, b'{"instances": [[[NaN]]]}', 400, "not valid JSON"),  # NaN is not JSON (RFC 8259)
    ("fraction for uint8", {"signature_name": "serving_uint8", "instances": (np.zeros((1, 28, 28)) + .5).tolist()},
     None, 400, "must hold integers"),
    ("unknown signature", {"signature_name": "nope", "instances": ZEROS}, None, 400, "no signature 'nope'"),
    ("unknown input", {"instances": [{"pixels": ZEROS[0]}]}, None, 400, "unknown input(s) pixels"),
    ("bad base64", {"signature_name": "serving_b64", "instances": [{"b64": "%%%"}]}, None, 400, "not valid base64"),
    ("not an image", {"signature_name": "serving_b64", "instances": [{"b64": base64.b64encode(b"hello").decode()}]},
     None, 400, "not a PNG, JPEG, GIF, BMP or WebP"),
    ("garbage after a png signature", {"signature_name": "serving_b64", "instances": [
        {"b64": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"x" * 50).decode()}]}, None, 400, "not a PNG, JPEG"),
    ("truncated png", {"signature_name": "serving_b64", "instances": [  # a sound header, then no pixels
        {"b64": base64.b64encode(tf.io.encode_png(np.full((28, 28, 1), 9, np.uint8)).numpy()[:45]).decode()}]},
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


# --- the Open Inference Protocol (KServe v2) --------------------------------------------------------

def test_v2_health_and_metadata(server):
    root = server[0].split("/v1/")[0]
    assert call(f"{root}/v2/health/live") == (200, {"live": True})
    assert call(f"{root}/v2/health/ready") == (200, {"ready": True})
    status, meta = call(f"{root}/v2")
    assert status == 200 and meta["name"] == "trainlab" and meta["extensions"] == ["binary_tensor_data"]
    assert call(f"{root}/v2/models/{NAME}/versions/1/ready") == (200, {"name": NAME, "ready": True})
    status, model = call(f"{root}/v2/models/{NAME}")
    assert status == 200 and model["platform"] == "tensorflow_savedmodel" and model["versions"] == ["1"]
    image = model["inputs"][0]
    assert (image["name"], image["datatype"], image["shape"]) == ("image", "FP32", [-1, 28, 28, 1])
    assert {o["name"]: (o["datatype"], o["shape"]) for o in model["outputs"]} == {
        "probabilities": ("FP32", [-1, 10]), "classes": ("INT64", [-1])}


def test_v2_infer_takes_typed_tensors_and_answers_like_the_saved_model(server, mnist):
    base, path, _ = server
    infer = base.replace("/v1/", "/v2/") + "/infer"
    images = mnist.x_test[:3, ..., 0]
    expected = saved_model_predictions(path, images)
    flat = {"id": "r1", "inputs": [{"name": "image", "shape": [3, 28, 28, 1], "datatype": "FP32",
                                    "data": images.ravel().tolist()}]}
    status, answer = call(infer, flat)
    assert status == 200 and answer["model_name"] == NAME and answer["model_version"] == "1" and answer["id"] == "r1"
    out = {o["name"]: o for o in answer["outputs"]}
    assert out["classes"] == {"name": "classes", "shape": [3], "datatype": "INT64",
                              "data": expected["classes"].tolist()}
    assert out["probabilities"]["shape"] == [3, 10] and out["probabilities"]["datatype"] == "FP32"
    np.testing.assert_allclose(np.reshape(out["probabilities"]["data"], (3, 10)), expected["probabilities"], atol=1e-6)
    nested = {"inputs": [{"name": "image", "shape": [3, 28, 28], "datatype": "UINT8", "data": images.tolist()}],
              "outputs": [{"name": "classes"}]}
    status, answer = call(infer.replace(f"{NAME}/infer", f"{NAME}/versions/1/infer"), nested)
    assert status == 200 and answer["outputs"] == [out["classes"]]
    encoded = {"inputs": [{"name": "image", "shape": [3], "datatype": "BYTES", "data": [png_b64(im) for im in images]}]}
    status, answer = call(infer, encoded)
    classes = next(o for o in answer["outputs"] if o["name"] == "classes")
    assert status == 200 and classes["data"] == expected["classes"].tolist()


@pytest.mark.parametrize("datatype", ["FP32", "UINT8", "BYTES"])
def test_v2_binary_tensors_through_the_real_triton_client(server, mnist, datatype):
    """tritonclient.http (Triton's and KServe's own client) sends the inputs and asks for the outputs as binary
    data (the Inference-Header-Content-Length extension): the answer is the SavedModel's."""
    http = pytest.importorskip("tritonclient.http", reason="tritonclient is installed by make test (see Makefile)")
    base, path, _ = server
    images = mnist.x_test[:4].reshape(4, 28, 28, 1)
    expected = saved_model_predictions(path, images)
    client = http.InferenceServerClient(base.split("//")[1].split("/")[0])
    try:
        assert client.is_server_ready() and "binary_tensor_data" in client.get_server_metadata()["extensions"]
        if datatype == "BYTES":
            values = np.array([tf.io.encode_png(image).numpy() for image in images], dtype=object)
        else:
            values = images.astype(np.float32 if datatype == "FP32" else np.uint8)
        tensor = http.InferInput("image", list(values.shape), datatype)
        tensor.set_data_from_numpy(values, binary_data=True)
        wanted = [http.InferRequestedOutput(name, binary_data=True) for name in ("probabilities", "classes")]
        result = client.infer(NAME, [tensor], outputs=wanted)
        sizes = {o["name"]: o["parameters"]["binary_data_size"] for o in result.get_response()["outputs"]}
        assert sizes == {"probabilities": 4 * 10 * 4, "classes": 4 * 8}  # float32 and int64, as bytes
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected["probabilities"], atol=1e-6)
        np.testing.assert_array_equal(result.as_numpy("classes"), expected["classes"])
        with pytest.raises(http.InferenceServerException, match=r"shape \[1, 27, 28, 1\]; expected \[N, 28, 28, 1\]"):
            short = http.InferInput("image", [1, 27, 28, 1], "UINT8")
            short.set_data_from_numpy(np.zeros((1, 27, 28, 1), np.uint8), binary_data=True)
            client.infer(NAME, [short])
    finally:
        client.close()


def test_v2_binary_bodies_that_lie_about_their_sizes_are_one_line_each(server):
    base, _, _ = server
    infer = base.replace("/v1/", "/v2/") + "/infer"
    head = json.dumps({"inputs": [{"name": "image", "shape": [1, 28, 28, 1], "datatype": "UINT8",
                                   "parameters": {"binary_data_size": 784}}]}).encode()
    encoded = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                      "parameters": {"binary_data_size": 3}}]}).encode()
    claims = encoded.replace(b'"binary_data_size": 3', b'"binary_data_size": 6')
    cases = [(head, len(head), b"\0" * 700, "declares 784 binary bytes; the request carries 700"),
             (head, len(head) + 10**6, b"\0" * 784, "must be the size of the JSON header"),
             (head, len(head) - 1, b"\0" * 785, "the inference header is not valid JSON"),
             (encoded, len(encoded), b"\x05\0\0", "ends inside an element's 4-byte length"),  # a half-sent length
             (claims, len(claims), b"\xff\xff\0\0ab", "element 0 claims 65535 bytes past the body's end")]
    for head, header, tail, message in cases:
        request = urllib.request.Request(infer, data=head + tail, method="POST",
                                         headers={"Inference-Header-Content-Length": str(header),
                                                  "Content-Type": "application/octet-stream"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 400 and message in json.loads(refused.value.read())["error"]


@pytest.mark.parametrize("body, status, message", [
    ({"inputs": {}}, 400, "with an 'inputs' list"),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [0]}]}, 400, "unknown input 'x'"),
    ({"inputs": [{"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP16", "data": [0]}]}, 400,
     "datatype must be one of FP32, UINT8, BYTES"),
    ({"inputs": [{"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [0, 1]}]}, 400,
     "holds 2 values; shape [1, 28, 28, 1] needs 784"),
    ({"inputs": [{"name": "image", "shape": [1, 4, 4], "datatype": "FP32", "data": [0] * 16}]}, 400,
     "has shape [1, 4, 4]; expected [N, 28, 28, 1] or [N, 28, 28]"),
    ({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["@@"]}]}, 400, "not valid base64"),
    ({"inputs": [{"name": "image", "shape": [1, 28, 28], "datatype": "FP32", "data": ZEROS}],
      "outputs": [{"name": "logits"}]}, 400, "unknown output(s) ['logits']"),
])
def test_v2_bad_requests_get_4xx_json(server, body, status, message):
    got, answer = call(server[0].replace("/v1/", "/v2/") + "/infer", body)
    assert got == status and message in answer["error"], answer
    assert call(server[0].replace("/v1/", "/v2/").replace(NAME, "other") + "/ready")[0] == 404


def test_a_stopping_server_is_not_ready_at_once(_exported):
    """What SIGTERM does first (uvicorn then closes the socket and lets requests in flight finish)."""
    import asyncio
    import signal

    import uvicorn
    from starlette.requests import Request

    from trainlab.pipeline.serving.app import create_app, draining_server
    from trainlab.pipeline.serving.model import ServedModel
    app = create_app(ServedModel(_exported[2].parent))
    server = draining_server(uvicorn.Config(app), app)
    scope = {"type": "http", "method": "GET", "path": "/v2/health/ready", "path_params": {"what": "ready"},
             "headers": [], "query_string": b""}
    assert asyncio.run(app.state.inference.health(Request(scope))).status_code == 200
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit and asyncio.run(app.state.inference.health(Request(scope))).status_code == 400


def test_metrics_count_requests_by_api_and_status_in_prometheus_text(server):
    base = server[0]
    root = base.split("/v1/")[0]
    call(base)
    call(f"{base}/versions/99")
    call(f"{root}/v2/health/ready")
    with urllib.request.urlopen(f"{root}/metrics", timeout=10) as response:
        kind, text = response.headers["Content-Type"], response.read().decode()
    assert kind.startswith("text/plain; version=")
    counted = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line.startswith("trainlab_requests_total{")}
    assert counted[f'trainlab_requests_total{{api="v1",model="{NAME}",status="200"}}'] >= 1
    assert counted[f'trainlab_requests_total{{api="v1",model="{NAME}",status="404"}}'] >= 1
    assert counted['trainlab_requests_total{api="v2",model="",status="200"}'] >= 1  # health: no model
    assert f'trainlab_request_seconds_bucket{{api="v1",le="0.005",model="{NAME}"}}' in text
    assert "trainlab_ready 1.0" in text and f'trainlab_loaded_versions{{model="{NAME}"}} 1.0' in text
