"""What one request or client may cost the server, and the uvicorn set-up that enforces it before the
application sees a byte: a connection that has not sent a whole request head within ``header_seconds`` is
closed, a head over ``MAX_HEADER_BYTES`` is answered 400, connections past ``max_connections`` are answered
503, and on SIGTERM the requests in flight get ``drain_seconds`` to finish (a client stalled mid-body too).

Inside the application (``requests.py``, ``app.py``): bodies are counted while they arrive (chunked ones too)
and refused at ``max_body_bytes`` unread, a body must arrive within ``body_seconds``, every encoded image's
header is read and refused above ``max_image_pixels`` before it is decoded, JSON nests at most 1,024 deep
(orjson's limit), and at most ``max_queued`` predictions wait for the model (429 with Retry-After past it,
as TF Serving's ``max_enqueued_batches``).

uvicorn's own defaults set no connection limit and no read timeout for a request head or body.

The protocol is uvicorn's httptools one (llhttp, the C parser Node.js uses) on uvloop's event loop (libuv), both
what ``uvicorn[standard]`` installs: binary requests at 32 clients, batched, 3,424 req/s against 2,356 with
h11 (pure-Python parsing) on uvloop and ~2,500 with h11 on asyncio's own loop (2026-12-07, these 2 cores).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import uvicorn

MAX_HEADER_BYTES = 16 * 1024          # a request head's line and headers: a longer one is answered 400
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 * 1024 * 1024
    max_image_bytes: int = 1024 * 1024
    max_image_pixels: int = 16_777_216      # 4096 x 4096: an RGB float copy of it is 200 MB
    max_batch: int = 1024
    max_connections: int = 1000
    max_queued: int = 256
    header_seconds: float = 10.0
    body_seconds: float = 30.0
    drain_seconds: float = 10.0
    allowed_hosts: tuple[str, ...] = ("*",)  # Host header values served; ("*",): any


def allowed_hosts_for(bind: str, given: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The Host allow-list: ``given``, else loopback names for a loopback bind (a DNS-rebinding page that
    reaches 127.0.0.1 under its own name is refused), else any."""
    if given:
        return tuple(given)
    try:
        loopback = bind == "localhost" or ipaddress.ip_address(bind).is_loopback
    except ValueError:
        loopback = False
    return LOOPBACK_HOSTS if loopback else ("*",)


def guarded_protocol(header_seconds: float) -> type:
    """uvicorn's httptools protocol with a deadline for each request head and a cap on its size: the deadline
    is armed when the connection opens and after each response and closes a connection that is not inside a
    request by then (a client that sends half a head, or nothing, holds no socket longer than
    ``header_seconds``); the bytes of a head are counted as they arrive, and one that has not ended within
    ``MAX_HEADER_BYTES`` is answered 400 before more of it is handed to the parser (which would keep a header
    of any length until it ends)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # the server's, loaded when it starts

    class Guarded(HttpToolsProtocol):
        _head_timer = None
        _in_head = True   # the bytes arriving are a request head's (from the connection's start, after a body)
        _head_bytes = 0

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            if self._in_head and self._head_bytes + len(data) > MAX_HEADER_BYTES:
                room = MAX_HEADER_BYTES - self._head_bytes
                super().data_received(data[:room])  # the head may end within them (the body follows)
                if self.transport.is_closing():  # the parser refused them already
                    return
                if self._in_head:
                    self.send_400_response(f"request head over {MAX_HEADER_BYTES} bytes")
                    return
                data = data[room:]
            if self._in_head:
                self._head_bytes += len(data)
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head, self._head_bytes = True, 0

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_head_timer()

        def connection_lost(self, exc) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(header_seconds, self._head_late)

        def _head_late(self) -> None:
            self._head_timer = None
            if self.cycle is None or self.cycle.response_complete:  # no request head arrived since it was armed
                self.timeout_keep_alive_handler()

    return Guarded


def uvicorn_config(app, host: str, port: int, limits: Limits):
    """A uvicorn config that enforces ``limits`` on connections (see the module)."""
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, loop="uvloop",
                          http=guarded_protocol(limits.header_seconds), limit_concurrency=limits.max_connections,
                          timeout_graceful_shutdown=limits.drain_seconds)
