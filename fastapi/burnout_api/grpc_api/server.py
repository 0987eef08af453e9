"""Start the gRPC server beside the HTTP one, in the same process and over the same core.

It is grpc.aio on an event loop of its own, in a thread: a single-record call is answered on that loop, and
any number of open PredictStreams cost no thread. grpc's synchronous server spends less CPU on a call only
with a pool of 2 to 4 threads, which two open streams would fill; with 16 threads the threads fight over the
GIL and it answers a fifth (BurnoutRisk) to a third (V2) fewer calls than grpc.aio. docs/grpc-performance.md
has the alternatives measured; no server option or poller moves grpc.aio beyond the noise. Calls that may
load a model or score a large batch go to worker threads, as REST's do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from burnout_api.core import InferenceCore
from burnout_api.grpc_api.servicer import (
    SERVICE_NAME,
    GenericHandlersOnly,
    add_burnout_risk,
    add_service,
    replica_trailer,
)
from burnout_api.v2 import grpc_servicer as v2

log = logging.getLogger(__name__)
START_TIMEOUT_S = 30.0
STOP_MARGIN_S = 2.0


class GrpcServer:
    """A running grpc.aio server and the thread whose event loop runs it."""

    def __init__(self, server: grpc.aio.Server, loop: asyncio.AbstractEventLoop, thread: threading.Thread):
        self._server, self._loop, self._thread = server, loop, thread
        self._stopping: concurrent.futures.Future | None = None

    def begin_stop(self, grace: float | None) -> None:
        """Refuse new calls from now on and give calls in flight up to `grace` seconds; returns at once, so
        the HTTP drain runs meanwhile under the same grace. Later calls change nothing."""
        if self._stopping is None:
            self._stopping = asyncio.run_coroutine_threadsafe(self._server.stop(grace), self._loop)

    def stop(self, grace: float | None) -> None:
        """`begin_stop`, wait for it (at most `grace` + a margin), then stop the loop and its thread."""
        self.begin_stop(grace)
        try:
            self._stopping.result(timeout=(grace or 0.0) + STOP_MARGIN_S)
        except concurrent.futures.TimeoutError:
            log.warning("gRPC did not stop within its grace + %g s; stopping its loop anyway", STOP_MARGIN_S)
        _stop_loop(self._loop, self._thread)


def start_grpc_server(core: InferenceCore, host: str, port: int) -> tuple[GrpcServer, int]:
    """Serve BurnoutRisk, the Open Inference Protocol's GRPCInferenceService, grpc.health.v1 (SERVING once a
    champion is loaded) and reflection; returns the server and the bound port (pass port 0 for any free
    one)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="grpc", daemon=True)
    thread.start()
    started = asyncio.run_coroutine_threadsafe(_start(core, host, port, loop), loop)
    try:
        server, bound = started.result(timeout=START_TIMEOUT_S)
    except BaseException:
        _stop_loop(loop, thread)
        raise
    log.info("gRPC listening on %s:%s", host, bound)
    return GrpcServer(server, loop, thread), bound


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


async def _start(
    core: InferenceCore, host: str, port: int, loop: asyncio.AbstractEventLoop
) -> tuple[grpc.aio.Server, int]:
    # The body cap of REST and GraphQL holds for gRPC messages too: gRPC refuses a larger one itself
    # (RESOURCE_EXHAUSTED) before it is decoded.
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", core.settings.max_body_bytes)])
    trailer = replica_trailer(core.settings)  # built once: the answers only pass it on
    add_burnout_risk(core, server, trailer)
    add_service(server, v2.SERVICE, v2.v2, v2.InferenceServicer(core), v2.SERVED_METHODS, trailer)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, GenericHandlersOnly(server))

    def publish_health(ready: bool) -> None:  # called from whichever thread changed readiness
        status = (
            health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", SERVICE_NAME):
            asyncio.run_coroutine_threadsafe(health.set(service, status), loop)

    core.add_readiness_listener(publish_health)
    services = (
        SERVICE_NAME,
        v2.SERVICE.full_name,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    # What reflection.enable_server_reflection does for a grpc.aio server, its handlers generic only.
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer(services), GenericHandlersOnly(server)
    )
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise OSError(f"gRPC could not bind {host}:{port}")
    await server.start()
    return server, bound
