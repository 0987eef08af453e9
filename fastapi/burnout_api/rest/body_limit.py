"""A cap on request bodies, enforced while they are read and before anything decodes them (413).

A pure ASGI middleware, so it sees the bytes as they arrive: a declared Content-Length over the cap is refused
before one byte is read, and a body sent without one (chunked) is refused as soon as it passes the cap. It
covers every route, REST and GraphQL alike, so no route reads, decodes or converts an oversized body."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """Raised inside the app's receive when a streamed body passes the cap."""


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:  # the app may not have answered yet: it never does once the body is refused
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        message = f"request body larger than {self.max_bytes} bytes (BURNOUT_MAX_BODY_BYTES)"
        # The Open Inference Protocol's routes answer in its own error shape, as its clients read it.
        error = {"error": message} if scope["path"].startswith("/v2/") else {"message": message, "detail": []}
        body = json.dumps(error).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        # The rest of the body is not read: the client is told to stop sending.
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
