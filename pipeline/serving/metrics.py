"""Prometheus metrics of the serving app (``GET /metrics``, the text format Prometheus scrapes): requests
by API and status, their latency, and readiness. Each app keeps its own registry (prometheus-client's
default one is process-wide: two apps in one process would collide)."""
from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def api_of(path: str) -> str:
    """The API a request path belongs to: ``v1`` (TF Serving), ``v2`` (Open Inference), ``page``, ``other``."""
    for prefix, api in (("/v1/", "v1"), ("/v2", "v2"), ("/page", "page")):
        if path.startswith(prefix):
            return api
    return "page" if path == "/" else "other"


class ServingMetrics:
    """Counters, a latency histogram and a readiness gauge, updated by an ASGI middleware."""

    def __init__(self, model_name: str, is_ready):
        self.registry = CollectorRegistry()
        self.requests = Counter("trainlab_requests", "HTTP requests answered", ["model", "api", "status"],
                                registry=self.registry)
        self.seconds = Histogram("trainlab_request_seconds", "Time to answer a request", ["model", "api"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        ready = Gauge("trainlab_ready", "1 while the server takes requests, 0 once it is told to stop",
                      ["model"], registry=self.registry)
        ready.labels(model_name).set_function(lambda: float(is_ready()))
        self.model_name = model_name

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class TimedRequests:
    """ASGI middleware counting and timing every HTTP request into ``metrics`` (``/metrics`` itself not)."""

    def __init__(self, app, metrics: ServingMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] == "/metrics":
            return await self.app(scope, receive, send)
        status, start = [500], time.perf_counter()

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, send_status)
        finally:
            m, api = self.metrics, api_of(scope["path"])
            m.requests.labels(m.model_name, api, str(status[0])).inc()
            m.seconds.labels(m.model_name, api).observe(time.perf_counter() - start)
