"""Every HTTP request gets its id on arrival (`core.request_ids`): the client's `X-Request-ID`, else a new
one. Routes read it from `request.state.request_id`; every answer carries it back in `X-Request-ID`, errors
included, so a client can always quote the id of the call it made. A pure ASGI middleware: a few
microseconds, where a BaseHTTPMiddleware costs a task per request."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from burnout_api.core.request_ids import HEADER, request_id_from

_HEADER = HEADER.encode()


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((value for name, value in scope["headers"] if name == _HEADER), None)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id_from(None if sent is None else sent.decode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":  # read now: a route may name it (V2's body `id`)
                header = (_HEADER, state["request_id"].encode("latin-1"))
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
