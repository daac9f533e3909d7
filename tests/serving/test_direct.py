"""DirectPredictions: which requests skip the stack, and that they keep its host check, metrics and errors.
Driven as ASGI in-process (no server, no model): the handlers and the next app record what reached them."""
import asyncio

import pytest
from starlette.responses import Response

from trainlab.pipeline.serving.direct import DirectPredictions
from trainlab.pipeline.serving.metrics import ServingMetrics


class _Repository:
    models = {"m": None}


def _stack(allowed_hosts=("127.0.0.1",), fail=False):
    reached = []

    async def handler(request):
        reached.append(("direct", request.path_params["path"]))
        if fail:
            raise RuntimeError("a bug")
        return Response(b"{}", 200, media_type="application/json")

    async def rest(scope, receive, send):
        reached.append(("stack", scope["path"]))
        await Response(b"", 404)(scope, receive, send)
    metrics = ServingMetrics(_Repository(), lambda: True)
    return DirectPredictions(rest, handler, handler, metrics, allowed_hosts), reached, metrics


def _send(app, method, path, host=b"127.0.0.1:8501"):
    scope = {"type": "http", "method": method, "path": path, "headers": [(b"host", host)], "query_string": b""}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"]


@pytest.mark.parametrize("method,path,host,taken", [
    ("POST", "/v1/models/m:predict", b"127.0.0.1:8501", ("direct", "m:predict")),
    ("POST", "/v1/models/m/versions/2:predict", b"127.0.0.1", ("direct", "m/versions/2:predict")),
    ("POST", "/v2/models/m/infer", b"127.0.0.1:8501", ("direct", "m/infer")),
    ("POST", "/v2/models/m/versions/1/infer", b"127.0.0.1", ("direct", "m/versions/1/infer")),
    ("GET", "/v2/models/m/infer", b"127.0.0.1", ("stack", "/v2/models/m/infer")),      # not a prediction
    ("POST", "/v1/models/m", b"127.0.0.1", ("stack", "/v1/models/m")),                  # no verb
    ("POST", "/v2/models/m/ready", b"127.0.0.1", ("stack", "/v2/models/m/ready")),
    ("POST", "/v2/models/m/infer", b"evil.test", ("stack", "/v2/models/m/infer")),      # the stack refuses it
    ("POST", "/v1/models/m:predict", b"", ("stack", "/v1/models/m:predict")),
])
def test_only_predictions_from_a_named_host_skip_the_stack(method, path, host, taken):
    app, reached, _ = _stack()
    _send(app, method, path, host)
    assert reached == [taken]


def test_a_wildcard_host_pattern_goes_the_full_way_and_any_host_does_not():
    app, reached, _ = _stack(allowed_hosts=("*.example.test",))
    _send(app, "POST", "/v2/models/m/infer", b"a.example.test")
    assert reached == [("stack", "/v2/models/m/infer")]
    app, reached, _ = _stack(allowed_hosts=("*",))
    _send(app, "POST", "/v2/models/m/infer", b"anything.test")
    assert reached == [("direct", "m/infer")]


def test_direct_requests_are_counted_and_a_failing_handler_is_counted_as_500():
    app, _, metrics = _stack()
    assert _send(app, "POST", "/v2/models/m/infer") == 200
    sample = metrics.registry.get_sample_value
    assert sample("trainlab_requests_total", {"model": "m", "api": "v2", "status": "200"}) == 1
    app, _, metrics = _stack(fail=True)
    with pytest.raises(RuntimeError, match="a bug"):  # the stack's outer ServerErrorMiddleware answers it
        _send(app, "POST", "/v1/models/m:predict")
    sample = metrics.registry.get_sample_value
    assert sample("trainlab_requests_total", {"model": "m", "api": "v1", "status": "500"}) == 1
    assert sample("trainlab_request_seconds_sum", {"model": "m", "api": "v1"}) > 0
