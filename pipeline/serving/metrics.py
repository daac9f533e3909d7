"""Prometheus metrics of the serving app (``GET /metrics``, the text format Prometheus scrapes): requests
by model, API and status, their latency, the sizes of the batches the model ran, the versions loaded,
and readiness. Each app keeps its own registry (prometheus-client's
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


def model_of(path: str) -> str:
    """The model name a request path addresses (``/v1/models/NAME...``, ``/v2/models/NAME...``), else ``""``."""
    for prefix in ("/v1/models/", "/v2/models/"):
        if path.startswith(prefix):
            return path[len(prefix):].split("/", 1)[0].split(":", 1)[0]
    return ""


class ServingMetrics:
    """Counters, a latency histogram and a readiness gauge, updated by an ASGI middleware; batch sizes
    (observed by the batcher) and the loaded versions (read from ``repository`` at each scrape)."""

    def __init__(self, repository, is_ready):
        self.registry = CollectorRegistry()
        self.repository = repository
        self.requests = Counter("trainlab_requests", "HTTP requests answered", ["model", "api", "status"],
                                registry=self.registry)
        self.seconds = Histogram("trainlab_request_seconds", "Time to answer a request", ["model", "api"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_sizes = Histogram("trainlab_batch_size", "Rows per model call of the batcher",
                                     buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), registry=self.registry)
        ready = Gauge("trainlab_ready", "1 while the server takes requests, 0 once it is told to stop",
                      registry=self.registry)
        ready.set_function(lambda: float(is_ready()))
        self.versions = Gauge("trainlab_loaded_versions", "Versions loaded, by model", ["model"],
                              registry=self.registry)

    async def timed(self, app, scope, receive, send) -> None:
        """The ASGI ``app`` answering an HTTP request, counted by model, API and status, and timed."""
        status, start = [500], time.perf_counter()

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
        try:
            await app(scope, receive, send_status)
        finally:
            api, model = api_of(scope["path"]), model_of(scope["path"])
            model = model if model in self.repository.models else ""  # unknown names: one series, not one each
            self.requests.labels(model, api, str(status[0])).inc()
            self.seconds.labels(model, api).observe(time.perf_counter() - start)

    async def endpoint(self, request: Request) -> Response:
        for name, model in self.repository.models.items():
            self.versions.labels(name).set(len(model.versions))
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class TimedRequests:
    """ASGI middleware counting and timing every HTTP request into ``metrics`` (``/metrics`` itself not)."""

    def __init__(self, app, metrics: ServingMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] == "/metrics":
            return await self.app(scope, receive, send)
        await self.metrics.timed(self.app, scope, receive, send)
