"""A TensorFlow Serving-compatible REST API (Starlette on uvicorn) for the exported SavedModel, with the
Open Inference Protocol's endpoints beside it (oip.py).

    GET  /                                        the draw-and-predict page (page/: plain HTML, JS, CSS)
    GET  /v1/models/NAME[/versions/V]             version status
    GET  /v1/models/NAME[/versions/V]/metadata    signature definitions
    POST /v1/models/NAME[/versions/V]:predict     {"instances": [...]} or {"inputs": ...}
    GET  /v2/health/live | ready, /v2/models/...  the Open Inference Protocol (KServe v2)
    GET  /metrics                                 Prometheus metrics (metrics.py)

Errors answer ``{"error": "..."}`` with a 4xx status; the server keeps serving whatever it is sent. On
SIGTERM (or Ctrl-C) readiness turns false at once, the requests in flight finish, then the server exits.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import tensorflow as tf
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .metrics import ServingMetrics, TimedRequests
from .model import ServedModel
from .oip import OpenInference
from .requests import RequestError, format_response, parse_body, parse_predict, read_json

PAGE = Path(__file__).parent / "page"
PATH = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?"
                  r"(?:/(?P<metadata>metadata)|:(?P<verb>[A-Za-z]+))?$")


def _json(payload: dict, status: int = 200) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


def create_app(model: ServedModel) -> Starlette:
    """The ASGI app serving every version of ``model``."""
    api, oip = _Api(model), OpenInference(model)
    metrics = ServingMetrics(model.name, lambda: oip.ready)
    page = (PAGE / "index.html").read_text().replace("{{MODEL}}", html.escape(model.name))

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def not_found(request: Request, exc) -> Response:
        return _error(f"unknown path {request.url.path}", 404)

    async def server_error(request: Request, exc) -> Response:
        return _error(f"internal error: {type(exc).__name__}", 500)

    methods = ["GET", "POST", "PUT", "DELETE"]
    app = Starlette(routes=[Route("/", index), Mount("/page", StaticFiles(directory=PAGE), name="page"),
                            Route("/v1/models/{path:path}", api.models, methods=methods),
                            Route("/v2", oip.server), Route("/v2/health/{what}", oip.health),
                            Route("/v2/models/{path:path}", oip.models, methods=methods),
                            Route("/metrics", metrics.endpoint)],
                    middleware=[Middleware(TimedRequests, metrics=metrics)],
                    exception_handlers={404: not_found, 500: server_error})
    app.state.inference = oip  # its ``ready`` flag: the server turns it off when told to stop
    return app


class _Api:
    """The TF Serving REST endpoints under ``/v1/models/`` for one served model."""

    def __init__(self, model: ServedModel):
        self.model = model

    async def models(self, request: Request) -> Response:
        match = PATH.match(request.path_params["path"])
        try:
            if match is None:
                raise RequestError(f"unknown path /v1/models/{request.path_params['path']}", 404)
            version = self.resolve(match)
            if match["verb"]:
                if match["verb"] != "predict":
                    raise RequestError(f"':{match['verb']}' is not supported; use ':predict'", 404)
                if request.method != "POST":
                    raise RequestError(":predict takes POST", 405)
                return await self.predict(request, version)
            if request.method != "GET":
                raise RequestError(f"{request.method} is not allowed here; use GET", 405)
            return _json(self.metadata(version) if match["metadata"] else self.status(match["version"]))
        except RequestError as e:
            return _error(str(e), e.status)

    def resolve(self, match) -> str:
        model = self.model
        if match["name"] != model.name:
            raise RequestError(f"model '{match['name']}' is not served; this server serves '{model.name}'", 404)
        version = match["version"]
        if version is not None and version not in model.versions:
            raise RequestError(f"model '{model.name}' has no version {version}; versions: "
                               f"{', '.join(sorted(model.versions, key=int))}", 404)
        return version or model.latest

    def status(self, version: str | None) -> dict:
        versions = [version] if version else sorted(self.model.versions, key=int)
        return {"model_version_status": [{"version": v, "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}} for v in versions]}

    def metadata(self, version: str) -> dict:
        served = self.model.version(version)
        return {"model_spec": {"name": self.model.name, "signature_name": "", "version": version},
                "metadata": {"signature_def": {"signature_def": {
                    k: s.as_json() for k, s in served.signatures.items()}}},
                "trainlab": served.metadata}

    async def predict(self, request: Request, version: str) -> Response:
        body = parse_body(await read_json(request))
        served = self.model.version(version)
        name = body.get("signature_name") or "serving_default"
        if name not in served.signatures:
            raise RequestError(f"no signature '{name}'; signatures: {', '.join(sorted(served.signatures))}")
        signature = served.signatures[name]
        inputs, row = parse_predict(body, signature)
        try:
            outputs = await run_in_threadpool(signature, inputs)
        except tf.errors.InvalidArgumentError as e:  # e.g. image bytes that do not decode
            raise RequestError(f"the model rejected the input: {e.message.splitlines()[0][:300]}") from None
        return _json(format_response(outputs, row))


def serve(model: ServedModel, host: str = "127.0.0.1", port: int = 8501) -> None:
    """Run the server until interrupted (SIGTERM or SIGINT: not ready at once, requests in flight finish)."""
    import uvicorn
    app = create_app(model)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    draining_server(config, app).run()


def draining_server(config, app: Starlette):
    """A uvicorn server that reports not ready the moment it is told to stop; uvicorn itself then closes
    the listening socket, lets the requests in flight finish and exits."""
    import uvicorn

    class Draining(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            app.state.inference.ready = False
            super().handle_exit(sig, frame)

    return Draining(config)
