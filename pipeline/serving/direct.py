"""Predictions straight to their handler: the one kind of request a loaded server answers thousands of times a
second skips Starlette's routing and the per-message wrappers of the middleware between (a request costs the
one event-loop thread about 0.23 ms in all, measured with binary bodies at 32 clients, which bounds a batched
server: see docs/serving.md).

``POST /v1/models/...:predict`` and ``POST /v2/models/.../infer`` whose ``Host`` the allow-list names exactly
(or any, with ``*``) are answered here with the same handlers, host check, metrics and error answers as the full
stack; every other request, and a host matched only by a wildcard pattern, goes the full way.
"""
from __future__ import annotations

from starlette.requests import Request


class DirectPredictions:
    """ASGI middleware, placed first: ``v1`` and ``v2`` are the handlers taking a Starlette request whose
    ``path_params["path"]`` is what follows ``/v1/models/`` or ``/v2/models/``."""

    def __init__(self, app, v1, v2, metrics, allowed_hosts: tuple[str, ...]):
        self.app, self.metrics = app, metrics
        self.handlers = {"/v1/models/": (v1, lambda rest: ":" in rest),
                         "/v2/models/": (v2, lambda rest: rest.endswith("/infer"))}
        self.any_host = "*" in allowed_hosts
        self.hosts = frozenset(h.encode() for h in allowed_hosts)

    async def __call__(self, scope, receive, send):
        handler = self._handler(scope)
        if handler is None:
            return await self.app(scope, receive, send)

        async def answer(scope, receive, send):
            response = await handler(Request(scope, receive))
            await response(scope, receive, send)
        await self.metrics.timed(answer, scope, receive, send)

    def _handler(self, scope):
        """The handler of a prediction request that may skip the stack (``path_params`` set), else None."""
        if scope["type"] != "http" or scope["method"] != "POST" or not self._host_named(scope):
            return None
        path = scope["path"]
        for prefix, (handler, takes) in self.handlers.items():
            if path.startswith(prefix) and takes(path[len(prefix):]):
                scope["path_params"] = {"path": path[len(prefix):]}
                return handler
        return None

    def _host_named(self, scope) -> bool:
        if self.any_host:
            return True
        host = next((v for k, v in scope["headers"] if k == b"host"), b"")
        return host.split(b":")[0] in self.hosts
