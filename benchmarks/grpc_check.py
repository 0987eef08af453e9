"""One unary gRPC call through a real client (grpc's C-core channel), on raw bytes: what stands in for the
`grpc-status` trailer h2load does not read (benchmarks/h2load.py)."""

from __future__ import annotations

import grpc

from benchmarks.h2load import BENCH_REQUEST_ID, GrpcCall

TIMEOUT_S = 30.0


def call_unary(target: str, path: str, request: bytes) -> bytes:
    """Call `path` (/<package.Service>/<Method>) on `target` (host:port) with a serialized request; return
    the serialized answer, or raise grpc.RpcError when the status is not OK."""
    with grpc.insecure_channel(target) as channel:
        method = channel.unary_unary(path)  # no (de)serializers: bytes in, bytes out
        return method(request, timeout=TIMEOUT_S, metadata=(("x-request-id", BENCH_REQUEST_ID),))


def checked_call(target: str, path: str, request) -> GrpcCall:
    """A GrpcCall for `request` (a protobuf message), with the size of the OK answer it gets now."""
    serialized = request.SerializeToString()
    return GrpcCall(path, serialized, len(call_unary(target, path, serialized)))


def check_ok(target: str, call: GrpcCall) -> None:
    """Raise unless one call answers OK with an answer of the expected size."""
    answer = call_unary(target, call.path, call.request)
    if len(answer) != call.response_size:
        raise RuntimeError(f"{call.path} on {target}: {len(answer)} bytes, expected {call.response_size}")
