"""Start the gRPC server beside the HTTP one, in the same process and over the same core."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from burnout_api.core import InferenceCore
from burnout_api.grpc_api.servicer import BurnoutRiskServicer
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["BurnoutRisk"].full_name
WORKERS = 16


def start_grpc_server(core: InferenceCore, host: str, port: int) -> tuple[grpc.Server, int]:
    """Serve BurnoutRisk, grpc.health.v1 (SERVING once a champion is loaded) and reflection; returns the
    server and the bound port (pass port 0 for any free one)."""
    server = grpc.server(ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="grpc"))
    pb_grpc.add_BurnoutRiskServicer_to_server(BurnoutRiskServicer(core), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)

    def publish_health(ready: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", SERVICE_NAME):
            health_servicer.set(service, status)

    core.add_readiness_listener(publish_health)
    services = (
        SERVICE_NAME,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    reflection.enable_server_reflection(services, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"gRPC could not bind {host}:{port}")
    server.start()
    log.info("gRPC listening on %s:%s", host, bound)
    return server, bound
