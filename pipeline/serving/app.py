"""A TensorFlow Serving-compatible REST API (Starlette on uvicorn) for the exported SavedModel, with the
Open Inference Protocol's endpoints beside it (oip.py).

    GET  /                                        the draw-and-predict page (page/: plain HTML, JS, CSS)
    GET  /v1/models/NAME[/versions/V]             version status
    GET  /v1/models/NAME[/versions/V]/metadata    signature definitions
    POST /v1/models/NAME[/versions/V]:predict     {"instances": [...]} or {"inputs": ...}
         (/labels/LABEL in place of /versions/V: the version a label such as champion points to)
    GET  /v2/health/live | ready, /v2/models/...  the Open Inference Protocol (KServe v2)
    GET  /metrics                                 Prometheus metrics (metrics.py)

Errors answer ``{"error": "..."}`` with a 4xx status; the server keeps serving whatever it is sent. On
SIGTERM (or Ctrl-C) readiness turns false at once, the requests in flight finish, then the server exits.
The models are a :class:`~.repository.ModelRepository`: several names, versions loaded and unloaded while
the server runs (``poll_seconds``); with ``batcher`` concurrent predictions share model calls.
"""
from __future__ import annotations

import contextlib
import gc
import html
import re
from pathlib import Path

import tensorflow as tf
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .batching import Batcher
from .direct import DirectPredictions
from .limits import Limits, uvicorn_config
from .metrics import ServingMetrics, TimedRequests
from .model import ServedModel
from .oip import OpenInference
from .repository import ModelRepository
from .requests import RequestError, format_response, json_response, parse_body, parse_predict, read_json

PAGE = Path(__file__).parent / "page"
PATH = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                  r"(?:/(?P<metadata>metadata)|:(?P<verb>[A-Za-z]+))?$")


def _error(message: str, status: int, headers: dict | None = None) -> Response:
    return json_response({"error": message}, status, headers)


def create_app(models: ModelRepository | ServedModel, batcher: Batcher | None = None,
               poll_seconds: float | None = None, echo=lambda line: None, limits: Limits = Limits()) -> Starlette:
    """The ASGI app serving every version of every model in ``models``; ``poll_seconds``: re-read the
    base paths that often while the app runs (new versions loaded, dropped ones unloaded); ``limits``: what
    a request may cost (:mod:`.limits`)."""
    repository = models if isinstance(models, ModelRepository) else ModelRepository([models])
    call = queue_bounded(batcher or _unbatched, limits.max_queued)
    api, oip = _Api(repository, call, limits), OpenInference(repository, call, limits)
    metrics = ServingMetrics(repository, lambda: oip.ready)
    if batcher is not None:
        batcher.observe = metrics.batch_sizes.observe
    page = (PAGE / "index.html").read_text().replace("{{MODEL}}", html.escape(repository.name))

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def not_found(request: Request, exc) -> Response:
        return _error(f"unknown path {request.url.path}", 404)

    async def server_error(request: Request, exc) -> Response:
        return _error(f"internal error: {type(exc).__name__}", 500)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        stop = repository.poll(poll_seconds, echo) if poll_seconds else None
        yield
        if stop is not None:
            stop.set()

    methods = ["GET", "POST", "PUT", "DELETE"]
    app = Starlette(routes=[Route("/", index), Mount("/page", StaticFiles(directory=PAGE), name="page"),
                            Route("/v1/models/{path:path}", api.models, methods=methods),
                            Route("/v2", oip.server), Route("/v2/health/{what}", oip.health),
                            Route("/v2/models/{path:path}", oip.models, methods=methods),
                            Route("/metrics", metrics.endpoint)],
                    middleware=[Middleware(DirectPredictions, v1=api.models, v2=oip.models, metrics=metrics,
                                           allowed_hosts=limits.allowed_hosts),
                                Middleware(TrustedHostMiddleware, allowed_hosts=list(limits.allowed_hosts)),
                                Middleware(TimedRequests, metrics=metrics)],
                    exception_handlers={404: not_found, 500: server_error}, lifespan=lifespan)
    app.state.inference = oip  # its ``ready`` flag: the server turns it off when told to stop
    app.state.limits = limits
    return app


async def _unbatched(signature, inputs):
    return await run_in_threadpool(signature, inputs)


def queue_bounded(call, limit: int):
    """``call`` refusing a prediction (429, Retry-After) while ``limit`` are already waiting for the model or
    running: a burst costs a short answer each, not a queue without end."""
    waiting = 0

    async def bounded(signature, inputs):
        nonlocal waiting
        if waiting >= limit:
            raise RequestError(f"{waiting} predictions are already waiting for the model (the limit, "
                               "--max-queued); try again shortly", 429, {"Retry-After": "1"})
        waiting += 1
        try:
            return await call(signature, inputs)
        finally:
            waiting -= 1
    return bounded


class _Api:
    """The TF Serving REST endpoints under ``/v1/models/``."""

    def __init__(self, repository: ModelRepository, call, limits: Limits):
        self.repository, self.call, self.limits = repository, call, limits

    async def models(self, request: Request) -> Response:
        match = PATH.match(request.path_params["path"])
        try:
            if match is None:
                raise RequestError(f"unknown path /v1/models/{request.path_params['path']}", 404)
            model, version, served = self.repository.find(match["name"], match["version"], match["label"])
            if match["verb"]:
                if match["verb"] != "predict":
                    raise RequestError(f"':{match['verb']}' is not supported; use ':predict'", 404)
                if request.method != "POST":
                    raise RequestError(":predict takes POST", 405)
                return await self.predict(request, served)
            if request.method != "GET":
                raise RequestError(f"{request.method} is not allowed here; use GET", 405)
            if match["metadata"]:
                return json_response(self.metadata(model, version, served))
            pinned = match["version"] or (version if match["label"] else None)
            return json_response(self.status(model, pinned))
        except RequestError as e:
            return _error(str(e), e.status, e.headers)

    @staticmethod
    def status(model: ServedModel, version: str | None) -> dict:
        versions = [version] if version else sorted(model.versions, key=int)
        return {"model_version_status": [{"version": v, "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}} for v in versions]}

    @staticmethod
    def metadata(model: ServedModel, version: str, served) -> dict:
        return {"model_spec": {"name": model.name, "signature_name": "", "version": version},
                "metadata": {"signature_def": {"signature_def": {
                    k: s.as_json() for k, s in served.signatures.items()}}},
                "trainlab": served.metadata}

    async def predict(self, request: Request, served) -> Response:
        signature, inputs, row = await read_json(request, lambda body: self.parse(body, served))
        try:
            outputs = await self.call(signature, inputs)
        except tf.errors.InvalidArgumentError as e:  # e.g. image bytes that do not decode
            raise RequestError(f"the model rejected the input: {e.message.splitlines()[0][:300]}") from None
        return json_response(format_response(outputs, row))

    def parse(self, body, served) -> tuple:
        """``(signature, inputs, row format?)`` of a parsed body: run off the event loop (numpy arrays of
        a few million numbers take a while)."""
        body = parse_body(body)
        name = body.get("signature_name") or "serving_default"
        if not isinstance(name, str) or name not in served.signatures:
            raise RequestError(f"no signature {str(name)[:100]!r}; signatures: {', '.join(sorted(served.signatures))}")
        signature = served.signatures[name]
        inputs, row = parse_predict(body, signature, self.limits)
        return signature, inputs, row


def serve(models: ModelRepository, host: str = "127.0.0.1", port: int = 8501, batcher: Batcher | None = None,
          poll_seconds: float | None = None, echo=lambda line: None, limits: Limits = Limits()) -> None:
    """Run the server until interrupted (SIGTERM or SIGINT: not ready at once, requests in flight get
    ``limits.drain_seconds`` to finish)."""
    app = create_app(models, batcher, poll_seconds, echo, limits)
    # Everything loaded so far (TensorFlow, the models: millions of objects) leaves the garbage collector's
    # view: a full collection, triggered by the lists that parsing JSON requests makes, would otherwise
    # walk them all and stall every request in flight (measured: p99 275 ms at 8 clients, float bodies).
    gc.collect()
    gc.freeze()
    draining_server(uvicorn_config(app, host, port, limits), app).run()


def draining_server(config, app: Starlette):
    """A uvicorn server that reports not ready the moment it is told to stop; uvicorn itself then closes
    the listening socket, lets the requests in flight finish and exits."""

    class Draining(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            app.state.inference.ready = False
            super().handle_exit(sig, frame)

    return Draining(config)
