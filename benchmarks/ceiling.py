"""The ceiling rows: our server stack answering a fixed response (benchmarks/ceiling_server.py), measured with
exactly the load of our single-record c=8 rows, REST with wrk and gRPC with h2load; the fixed answers are real
answers of our service to the first of those records, so both move the same bytes."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from benchmarks import cases
from benchmarks.grpc_check import check_ok
from benchmarks.h2load import GrpcCall, measure_grpc_h2load
from benchmarks.load import measure_http
from benchmarks.measurement import Measurement
from benchmarks.servers import Server, child_env, start_server, stop_server
from burnout_base.settings import Settings
from burnout_dev.processes import free_port

CONCURRENCY = 8


def start_ceiling_server(
    settings: Settings, rest_answer: bytes, grpc_answer: bytes, workdir: Path, timeout: float = 60
) -> Server:
    """The fixed-answer server on free ports; `grpc_port` is set. Ready when its REST route answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    rest_file, grpc_file = workdir / "ceiling-answer.json", workdir / "ceiling-answer.pb"
    rest_file.write_bytes(rest_answer)
    grpc_file.write_bytes(grpc_answer)
    api_port, grpc_port = free_port(), free_port()
    env = child_env(settings, api_host="127.0.0.1", api_port=api_port, grpc_port=grpc_port)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # `benchmarks` is not an installed package
    command = [sys.executable, "-m", "benchmarks.ceiling_server", str(rest_file), str(grpc_file)]
    url = f"http://127.0.0.1:{api_port}"
    # A GET on the POST-only route answers 405 once the server listens: below 500, so it counts as up.
    return start_server("ceiling", command, env, url, "/predict", workdir / "logs", timeout, grpc_port)


def measure_ceiling(
    settings: Settings,
    rest_answer: bytes,
    single_bodies: Path,
    grpc_call: GrpcCall,
    grpc_answer: bytes,
    seconds: float,
    warmup: float,
    workdir: Path,
) -> list[Measurement]:
    """The two ceiling rows; `single_bodies` and `grpc_call` are what our own c=8 rows send."""
    server = start_ceiling_server(settings, rest_answer, grpc_answer, workdir)
    try:
        target = f"127.0.0.1:{server.grpc_port}"
        fixed = GrpcCall(grpc_call.path, grpc_call.request, len(grpc_answer))
        return [
            measure_http(
                cases.CEILING_REST_C8,
                cases.CEILING,
                server.pid,
                server.url + "/predict?model=champion",
                single_bodies,
                CONCURRENCY,
                seconds,
                warmup,
                1,
            ),
            measure_grpc_h2load(
                cases.CEILING_GRPC_C8,
                cases.CEILING,
                server.pid,
                f"http://{target}",
                fixed,
                workdir,
                CONCURRENCY,
                seconds,
                warmup,
                1,
                check_call=partial(check_ok, target, fixed),
            ),
        ]
    finally:
        stop_server(server)
