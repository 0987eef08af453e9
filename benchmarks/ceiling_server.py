"""Bench only: our service's server stack answering a fixed response, to measure what the stack alone costs
(the ceiling a prediction endpoint on it can reach). Never part of the service.

The process is set up as `burnout serve` sets up its own (burnout_api.main.serve: one BLAS/OpenMP thread, the
same GIL switch interval), REST runs on `build_http_server` (uvicorn, uvloop, our timed protocol) with the
same body-size middleware and a route of /predict's kind (the endpoint receives the raw request), and gRPC
runs on grpc.aio on an event loop of its own in a thread, as grpc_api.server starts it. The route reads the
request body, as /predict does, and answers the bytes of a real answer of ours; so does the gRPC method.

Run: python -m benchmarks.ceiling_server <rest answer file> <grpc answer file>, with BURNOUT_API_HOST,
BURNOUT_API_PORT and BURNOUT_GRPC_PORT set."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from pathlib import Path

import grpc
from threadpoolctl import threadpool_limits

from burnout_api.grpc_api.server import GrpcServer
from burnout_api.http_server import build_http_server
from burnout_api.main import GIL_SWITCH_INTERVAL_S
from burnout_api.rest.body_limit import BodySizeLimit
from burnout_api.rest.predict import DirectRoute
from burnout_base.settings import Settings, get_settings
from fastapi import APIRouter, FastAPI, Request, Response

log = logging.getLogger(__name__)
REST_PATH = "/predict"
GRPC_SERVICE, GRPC_METHOD = "burnout.v1.BurnoutRisk", "Predict"  # what h2load calls on our service too


def build_fixed_app(settings: Settings, answer: bytes) -> FastAPI:
    """FastAPI with the service's body limit and one POST route answering `answer` as JSON."""

    async def fixed(request: Request) -> Response:
        await request.body()
        return Response(answer, media_type="application/json")

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    router = APIRouter(route_class=DirectRoute)
    router.add_api_route(REST_PATH, fixed, methods=["POST"], response_class=Response)
    app.include_router(router)
    return app


def start_fixed_grpc(settings: Settings, answer: bytes) -> GrpcServer:
    """grpc.aio on its own loop and thread, answering every unary call of GRPC_METHOD with `answer` (no
    (de)serialization: the bytes are the serialized response)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="grpc", daemon=True)
    thread.start()

    async def start() -> grpc.aio.Server:
        async def fixed(_request: bytes, _context) -> bytes:
            return answer

        server = grpc.aio.server(options=[("grpc.max_receive_message_length", settings.max_body_bytes)])
        # A generic handler only, as grpc_api.servicer.add_service adds the service's (no method registered
        # by name: grpc.aio would wait on one more pending call for every call it accepts).
        handlers = {GRPC_METHOD: grpc.unary_unary_rpc_method_handler(fixed)}
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(GRPC_SERVICE, handlers)])
        if server.add_insecure_port(f"{settings.api_host}:{settings.grpc_port}") == 0:
            raise OSError(f"gRPC could not bind {settings.api_host}:{settings.grpc_port}")
        await server.start()
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    return GrpcServer(server, loop, thread)


def serve_fixed(settings: Settings, rest_answer: bytes, grpc_answer: bytes) -> None:
    """Both fixed-answer servers until SIGINT/SIGTERM, in a process set up as `burnout serve`'s."""
    threadpool_limits(limits=1)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    grace = settings.shutdown_grace_s
    grpc_server = start_fixed_grpc(settings, grpc_answer)
    try:
        app = build_fixed_app(settings, rest_answer)
        build_http_server(app, settings, lambda: grpc_server.begin_stop(grace)).run()
    finally:
        grpc_server.stop(grace)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve_fixed(get_settings(), Path(sys.argv[1]).read_bytes(), Path(sys.argv[2]).read_bytes())
