"""uvicorn as the service runs it: read timeouts on headers and bodies, and a drain that ends on time.

uvicorn has neither: a client that never finishes its headers or its body holds a connection for good, and
on SIGTERM it waits for requests in flight without limit. Both are added to uvicorn's protocol and server,
where a request pays two clock reads instead of a middleware layer on the hot path. They rely on internals
of uvicorn's httptools protocol (`cycle`, `_start_asgi_task`, 0.54); tests/unit/api/test_http_server.py
checks each behaviour against the installed uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from types import FrameType

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from burnout_base.settings import Settings

log = logging.getLogger(__name__)
# Requests cut at the end of the grace get this long to end by themselves before uvicorn cancels them.
CUT_SETTLE_S = 1.0
# Past grace + this, the process exits even if something runs on (a worker thread, a registry call).
EXIT_MARGIN_S = 5.0


class TimedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for headers and one for bodies (408, then close), and a
    drain that lets a request whose first bytes have arrived finish instead of dropping it.

    One timer per connection checks the current deadline and re-arms itself while the deadline moves on: a
    request costs two clock reads, where a timer per deadline would cost two timers (3.5 us, 1-2 % of the
    single-record rate)."""

    def __init__(self, *args, header_timeout_s: float, body_timeout_s: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s, self.body_timeout_s = header_timeout_s, body_timeout_s
        self._deadline: float | None = None  # when what is arriving (headers or body) must be complete
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._reading_headers = False  # a request has begun and its headers are not complete yet
        self._body_cycle: RequestResponseCycle | None = None  # a served request whose body is not complete
        self._draining = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn's keep-alive timer starts only after a first answer: a connection that sends nothing would
        # be held for good. Its first request's headers are timed from here.
        self._set_deadline(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True
        if self._deadline is None:  # a later request on a kept-alive connection: from its first byte
            self._set_deadline(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._deadline = None
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answered during the drain: the connection closes after it

    def _start_asgi_task(self, cycle: RequestResponseCycle, app) -> None:
        super()._start_asgi_task(cycle, app)
        # Timed from when the request is served, not parsed: a pipelined request waits unread in the meantime.
        if cycle.more_body:
            self._body_cycle = cycle
            self._set_deadline(self.body_timeout_s)

    def on_message_complete(self) -> None:
        # Before uvicorn's own handler, which returns early when the answer went out before the body came in.
        self._body_cycle = self._deadline = None
        super().on_message_complete()

    def shutdown(self) -> None:
        """Called by the server when the drain begins."""
        self._draining = True
        if self._reading_headers:
            return  # in flight since its first byte: it is answered (Connection: close) or times out
        super().shutdown()

    def cut_short(self) -> None:
        """The drain's grace is over: a request still arriving ends now (503), as a timeout would end it."""
        if self._reading_headers or self._body_cycle is not None:
            self._end_arriving_request(503, "the service is shutting down")

    def _set_deadline(self, seconds: float) -> None:
        now = self.loop.time()
        self._deadline = now + seconds
        if self._timer is None or self._deadline < self._timer_at:  # else the pending check re-arms
            if self._timer is not None:
                self._timer.cancel()
            self._arm(seconds)

    def _arm(self, seconds: float) -> None:
        self._timer = self.loop.call_later(seconds, self._check_deadline)
        self._timer_at = self.loop.time() + seconds

    def _check_deadline(self) -> None:
        self._timer = None
        if self._deadline is None or self.transport.is_closing():
            return
        remaining = self._deadline - self.loop.time()
        if remaining > 0:
            self._arm(remaining)
        elif self._reading_headers:
            seconds = self.header_timeout_s
            self._end_arriving_request(
                408, f"request headers not received within {seconds:g} s (BURNOUT_HEADER_TIMEOUT_S)"
            )
        elif self._body_cycle is not None:
            seconds = self.body_timeout_s
            self._end_arriving_request(
                408, f"request body not received within {seconds:g} s (BURNOUT_BODY_TIMEOUT_S)"
            )
        else:  # nothing sent since the connection opened: no request to answer
            self.transport.close()

    def _end_arriving_request(self, status: int, message: str) -> None:
        """Answer `status` unless an answer is under way, close the connection, and tell the app waiting for
        the body (if any) that the client is gone, so it stops without answering."""
        cycle, self._deadline = self._body_cycle, None
        if self.transport.is_closing():
            return
        if cycle is None:  # headers: not while an earlier request's answer is being written (pipelining)
            may_answer = self.cycle is None or self.cycle.response_complete
        else:
            may_answer = not cycle.response_started
        if may_answer:
            self.transport.write(self._error_response(status, message))
        if cycle is not None:
            cycle.disconnected = True  # the app's answer, if it still sends one, is dropped
            cycle.message_event.set()  # its receive() returns http.disconnect
        self.transport.close()

    def _error_response(self, status: int, message: str) -> bytes:
        body = json.dumps({"message": message, "detail": []}).encode()
        lines = [STATUS_LINE[status]]
        lines += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        lines += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
        return b"".join(lines)


async def client_gone(_: Request, __: Exception) -> Response:
    """A request whose client left (or whose body timed out) ends quietly: the answer reaches no one, and
    a traceback in the log would only hide real errors."""
    return Response(status_code=400)


class ExitDeadline:
    """The last resort of the drain: `bound_s` after `arm()`, the process exits 0 whatever still runs (a
    prediction in a worker thread cannot be cancelled; the poller may be in a registry call). The thread
    starts before any signal: `arm()` only sets an Event, which is safe inside a signal handler."""

    def __init__(self, bound_s: float, exit_process: Callable[[int], object] = os._exit) -> None:
        self.bound_s, self._exit = bound_s, exit_process
        self._armed = threading.Event()
        threading.Thread(target=self._run, name="exit-deadline", daemon=True).start()

    def arm(self) -> None:
        self._armed.set()

    def _run(self) -> None:
        self._armed.wait()
        # Not disarmed when serve() returns: the interpreter's own exit (joining threads) is bounded too.
        time.sleep(self.bound_s)
        log.error("the drain did not end within %g s: exiting now", self.bound_s)
        self._exit(0)


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose SIGTERM drain is bounded: `on_drain()` first (readiness), then everything is
    still served for `delay_s` (a load balancer notices the failed check meanwhile), then `on_close()` (gRPC)
    and the listener closes, idle connections close, requests in flight get `grace_s`; those still arriving
    are then cut (503), anything else still running is cancelled `CUT_SETTLE_S` later."""

    def __init__(
        self,
        config: uvicorn.Config,
        grace_s: float,
        on_drain: Callable[[], None],
        delay_s: float = 0.0,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.grace_s, self.delay_s = grace_s, delay_s
        self._on_drain, self._on_close = on_drain, on_close
        self.exit_deadline = ExitDeadline(delay_s + grace_s + EXIT_MARGIN_S)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.exit_deadline.arm()  # from the signal itself: even a blocked event loop cannot keep the process
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets=None) -> None:
        self._on_drain()
        if self.delay_s > 0:
            log.info("draining: not ready from now on; still serving for %g s", self.delay_s)
            await self._serve_on(self.delay_s)
        log.info("closing the listeners: calls in flight get %g s", self.grace_s)
        if self._on_close is not None:
            self._on_close()
        cut = asyncio.get_running_loop().call_later(self.grace_s, self._cut_arriving_requests)
        try:
            await super().shutdown(sockets)
        finally:
            cut.cancel()

    async def _serve_on(self, seconds: float) -> None:
        """The listeners stay open while this waits (uvicorn's main loop has ended); a second Ctrl-C
        (force_exit) ends the wait. uvicorn's tick is kept, so the Date header stays current."""
        deadline = time.monotonic() + seconds
        ticks = 0
        while (left := deadline - time.monotonic()) > 0 and not self.force_exit:
            await asyncio.sleep(min(0.1, left))
            ticks += 1
            await self.on_tick(ticks)

    def _cut_arriving_requests(self) -> None:
        for connection in list(self.server_state.connections):
            if isinstance(connection, TimedHttpProtocol):
                connection.cut_short()


REPLICA_HEADER = "x-burnout-replica"


def shared_listener(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port` that the service's other workers bind too (SO_REUSEPORT): the kernel
    spreads new connections across them. grpc binds its port the same way by default (`grpc.so_reuseport`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def build_http_server(
    app,
    settings: Settings,
    on_drain: Callable[[], None],
    on_close: Callable[[], None] | None = None,
) -> DrainingServer:
    """REST + GraphQL on `api_host:api_port`, with the read timeouts, the replica header and the bounded
    drain (delay, then grace) of `settings`."""
    protocol = partial(
        TimedHttpProtocol,
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
    )
    # uvicorn writes its default headers into every answer (its own error answers and ours too): the replica
    # header costs one precomputed pair per answer, no middleware.
    headers = [(REPLICA_HEADER, settings.replica_name)] if settings.replica_header else []
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        http=protocol,  # type: ignore[arg-type]  # uvicorn calls it as it would call the class
        access_log=False,
        lifespan="on",
        log_config=None,
        headers=headers,
        timeout_graceful_shutdown=settings.shutdown_grace_s + CUT_SETTLE_S,
    )
    return DrainingServer(config, settings.shutdown_grace_s, on_drain, settings.drain_delay_s, on_close)
