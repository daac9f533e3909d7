"""Hostile traffic against a real `trainlab serve` on loopback: each attack gets a 4xx or a closed connection,
the server's memory stays within 300 MB of before the attack, and ordinary requests are answered right during
and after it. Counts and times are bounded (a few seconds each)."""
import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import free_port, start_server, stop_server
from tests.files import bomb_png
from trainlab.pipeline.cli import cli
from trainlab.pipeline.serving.app import queue_bounded
from trainlab.pipeline.serving.requests import RequestError

NAME = "trainlab-mnist"
HEADER_SECONDS = 2


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def start(path, *options):
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    trainlab = Path(sys.executable).parent / "trainlab"
    proc = start_server([str(trainlab), "serve", "--model-dir", str(path.parent), "--port", str(port),
                         "--poll-seconds", "0.5", *options], f"{root}/v1/models/{NAME}")
    return root, port, proc


@pytest.fixture(scope="module")
def server(_exported, mnist, tmp_path_factory):
    """One server for the module, on a copy of the export (the poll test adds version folders to it); the
    SIGTERM test, the module's last, stops it."""
    import shutil
    _, _, path, _ = _exported
    base = tmp_path_factory.mktemp("hostile") / NAME
    shutil.copytree(path, base / "1")
    root, port, proc = start(base / "1", "--header-seconds", str(HEADER_SECONDS), "--body-seconds", "3",
                             "--drain-seconds", "2")
    digits = mnist.x_test[:4, ..., 0]
    expected = ordinary(root, digits)[1]  # the answers before any attack
    yield root, port, proc, digits, expected, base
    stop_server(proc)


def call(url, body=None, raw=None, headers=None, method=None, timeout=30):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, headers=headers or {"Content-Type": "application/json"},
                                     method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, (json.loads(text) if text.startswith(b"{") else text.decode()), dict(e.headers)


def ordinary(root, digits):
    """An ordinary predict request: (seconds, predicted classes)."""
    start_time = time.perf_counter()
    status, answer, _ = call(f"{root}/v1/models/{NAME}:predict", {"instances": digits.tolist()})
    assert status == 200, answer
    return time.perf_counter() - start_time, [p["classes"] for p in answer["predictions"]]


@pytest.fixture
def watched(server):
    """The server, checked after the test: answering right, RSS within 300 MB of before the attack."""
    root, port, proc, digits, expected, _ = server
    before = rss_mb(proc.pid)
    yield server
    assert proc.poll() is None, "the server died"
    assert ordinary(root, digits)[1] == expected
    assert rss_mb(proc.pid) - before < 300, (before, rss_mb(proc.pid))


def b64_request(data: bytes) -> dict:
    return {"signature_name": "serving_b64", "instances": [{"b64": base64.b64encode(data).decode()}]}


def test_a_header_bomb_png_is_refused_through_both_apis(watched):
    root = watched[0]
    data = bomb_png(23170)  # 23,170 x 23,170 claimed in a few hundred bytes
    status, answer, _ = call(f"{root}/v1/models/{NAME}:predict", b64_request(data))
    assert status == 413 and "over the limit of 16,777,216 (--max-image-pixels)" in answer["error"], answer
    v2 = {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(data).decode()]}]}
    status, answer, _ = call(f"{root}/v2/models/{NAME}/infer", v2)
    assert status == 413 and "pixels in its header" in answer["error"], answer


def test_a_200_mb_chunked_body_is_refused_at_the_limit_unread(watched):
    port = watched[1]
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"POST /v1/models/{NAME}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"%x\r\n" % (1 << 20) + b"[" * (1 << 20) + b"\r\n"
        try:
            while sent < 200 << 20:
                s.sendall(chunk)
                sent += 1 << 20
        except OSError:  # the server answered and closed: the rest is never read
            pass
        reply = s.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert sent < 64 << 20, f"{sent >> 20} MB were sent before the server refused the body"


def test_stalled_half_headers_hold_no_socket_and_ordinary_requests_go_on(watched):
    root, port, _, digits, expected, _ = watched
    stalled = []
    for _ in range(300):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(f"POST /v1/models/{NAME}:predict HTTP/1.1\r\nHost: 127.0".encode())
        stalled.append(s)
    try:
        times = []
        for _ in range(20):
            seconds, classes = ordinary(root, digits)
            assert classes == expected
            times.append(seconds)
        assert np.percentile(times, 99) < 1.0, times
        time.sleep(HEADER_SECONDS + 1)
        closed = sum(1 for s in stalled if s.recv(1024) == b"")  # the server closed them
        assert closed == len(stalled)
    finally:
        for s in stalled:
            s.close()


def test_large_json_bodies_are_parsed_off_the_event_loop(watched):
    root = watched[0]
    body = json.dumps({"instances": [[0.5] * 2800] * 1000}).encode()  # 14 MB of floats, a shape the model refuses
    assert 13 << 20 < len(body) < 16 << 20
    answers, health = [], []

    def post():
        answers.append(call(f"{root}/v1/models/{NAME}:predict", raw=body)[0])
    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        start_time = time.perf_counter()
        assert call(f"{root}/v2/health/live")[0] == 200
        health.append(time.perf_counter() - start_time)
        time.sleep(0.05)
    assert answers == [400] * 4 and max(health) < 2.0, (answers, health)


@pytest.mark.parametrize("label,raw,headers,status,message", [
    ("200,000-deep array", b'{"instances": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", None, 400, "not valid JSON"),
    ("binary body", bytes(range(256)) * 64, None, 400, "not valid JSON"),
    ("text/plain body", b'{"instances": [[0]]}', {"Content-Type": "text/plain"}, 415, "is not JSON"),
    ("another origin", b'{"instances": [[0]]}', {"Content-Type": "application/json", "Origin": "http://evil.test"},
     403, "another origin"),
    ("a foreign Host (DNS rebinding)", b'{"instances": [[0]]}', {"Host": "evil.test:8501"}, 400, "Invalid host"),
    ("huge integers", b'{"instances": [[' + b"9" * 400 + b"]]}", None, 400, ""),
    ("a list as signature name", b'{"signature_name": ["a"], "instances": [[0]]}', None, 400, "no signature"),
])
def test_malformed_and_foreign_requests_get_4xx(watched, label, raw, headers, status, message):
    got, answer, _ = call(f"{watched[0]}/v1/models/{NAME}:predict", raw=raw,
                          headers=headers or {"Content-Type": "application/json"})
    assert got == status and message in str(answer), (got, answer)


def test_open_inference_malformed_tensors_get_4xx(watched):
    infer = f"{watched[0]}/v2/models/{NAME}/infer"
    for tensor in ({"name": "image", "shape": [1], "datatype": ["BYTES"], "data": ["x"]},
                   {"name": "image", "shape": [1, 1], "datatype": "FP32", "data": [10 ** 400]}):
        status, answer, _ = call(infer, raw=json.dumps({"inputs": [tensor]}).encode())
        assert status == 400, answer
    status, answer, _ = call(infer, {"inputs": [{"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32",
                                                 "data": [0.0] * 784}], "outputs": [{"name": ["x"]}]})
    assert status == 400 and "unknown output" in answer["error"], answer


@pytest.mark.parametrize("size, pieces, refused", [(200_000, 1, True), (17_000, 1, True), (17_000, 17, True),
                                                   (12_000, 1, False), (12_000, 12, False)])
def test_a_request_head_over_16_kib_is_refused(watched, size, pieces, refused):
    """MAX_HEADER_BYTES counted as the head arrives, in one piece or many (the parser itself would keep a header
    of any length until it ends)."""
    port = watched[1]
    head = (f"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"X-Big: {'a' * size}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        step = -(-len(head) // pieces)
        try:
            for start in range(0, len(head), step):
                s.sendall(head[start:start + step])
                time.sleep(0.002 if pieces > 1 else 0)
        except (BrokenPipeError, ConnectionResetError):
            assert refused
        reply = b""
        try:
            while chunk := s.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
    if refused:
        assert reply == b"" or reply.startswith(b"HTTP/1.1 400"), reply[:200]
    else:
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]


def test_predictions_past_the_queue_bound_get_429_with_retry_after():
    async def run():
        release = asyncio.Event()

        async def model(signature, inputs):
            await release.wait()
            return {"ok": inputs}
        bounded = queue_bounded(model, 2)
        waiting = [asyncio.ensure_future(bounded(None, i)) for i in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(RequestError) as refused:
            await bounded(None, 3)
        release.set()
        assert [(await w)["ok"] for w in waiting] == [0, 1]
        assert (await bounded(None, 4))["ok"] == 4  # room again
        return refused.value
    refused = asyncio.run(run())
    assert refused.status == 429 and refused.headers == {"Retry-After": "1"}


def test_the_version_poll_survives_a_folder_that_is_no_version(watched, _exported):
    """A folder named '²' ("²".isdigit() is true, int("²") raises) is not a version by TF Serving's rule; a
    version exported after it is still picked up."""
    import shutil
    root, base, path = watched[0], watched[5], _exported[2]
    shutil.copytree(path, base / "²")
    time.sleep(1)  # two polls
    shutil.copytree(path, base / "2")
    deadline = time.time() + 30
    while time.time() < deadline:
        status, answer, _ = call(f"{root}/v1/models/{NAME}")
        if [v["version"] for v in answer["model_version_status"]] == ["1", "2"]:
            break
        time.sleep(0.3)
    assert [v["version"] for v in answer["model_version_status"]] == ["1", "2"], answer


@pytest.mark.parametrize("name", ["team/mnist", "a:b"])
def test_model_config_names_the_urls_cannot_reach_are_refused(tmp_path, _exported, name):
    _, _, path, _ = _exported
    config = tmp_path / "models.yml"
    config.write_text(f"models:\n  - name: '{name}'\n    base_path: {path.parent}\n")
    result = CliRunner().invoke(cli, ["serve", "--model-config", str(config)])
    assert result.exit_code == 2 and "cannot be named in a URL" in result.output, result.output


def test_sigterm_drains_and_exits_also_with_a_client_stalled_mid_body(server):
    """The module's last test: it stops the module's server (--drain-seconds 2)."""
    _, port, proc, _, _, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"POST /v1/models/{NAME}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  "Content-Length: 1000\r\n\r\n{\"instances\": ".encode())
        time.sleep(0.3)
        start_time = time.perf_counter()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not exit within 15 s of SIGTERM") from None
    assert time.perf_counter() - start_time < 8
