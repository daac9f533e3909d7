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
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import uvicorn

MAX_HEADER_BYTES = 16 * 1024          # h11's limit on a request head: a longer one is answered 400
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
    """uvicorn's h11 protocol with a deadline for each request head: armed when the connection opens and after
    each response, it closes a connection that is not inside a request by then (a client that sends half a
    head, or nothing, holds no socket longer than ``header_seconds``)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol  # the server's, loaded when it starts

    class Guarded(H11Protocol):
        _head_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_head_timer()

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
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          http=guarded_protocol(limits.header_seconds), limit_concurrency=limits.max_connections,
                          h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                          timeout_graceful_shutdown=limits.drain_seconds)
