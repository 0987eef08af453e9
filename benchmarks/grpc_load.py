"""Closed-loop gRPC load on our service with a lean asyncio client (grpc.aio: one event loop, C-core
transport): single-record unary `Predict` from N concurrent callers, and single-record messages on one
bidirectional `PredictStream` with N messages in flight. The client runs in this process, on the same 2 cores
as the server, so its own CPU is reported beside the server's."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections import deque

import pandas as pd
import psutil

from benchmarks.cpu import cpu_percent_between, snapshot_tree_cpu
from benchmarks.measurement import Measurement, summarize_latencies
from benchmarks.records import SINGLE_RECORDS

log = logging.getLogger(__name__)


def build_requests(records: pd.DataFrame, count: int = SINGLE_RECORDS) -> list:
    """One single-record PredictRequest per record (the first `count`); missing values are left unset."""
    from burnout_api.features import FEATURE_FIELDS
    from burnout_api.grpc_gen import burnout_pb2 as pb

    requests = []
    for row in records.iloc[:count].itertuples(index=False):
        fields = {}
        for field, value in zip(FEATURE_FIELDS, row, strict=True):
            if isinstance(value, float) and math.isnan(value):
                continue
            fields[field.key] = (
                int(value)
                if field.column.kind == "integer"
                else (float(value) if field.column.is_numeric else str(value))
            )
        requests.append(pb.PredictRequest(records=[pb.Employee(**fields)], model="champion"))
    return requests


async def _unary_load(stub, requests: list, concurrency: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def caller(offset: int) -> None:
        nonlocal errors
        import grpc

        index = offset
        while time.perf_counter() < deadline:
            request = requests[index % len(requests)]
            index += concurrency
            started = time.perf_counter()
            try:
                await stub.Predict(request)
            except grpc.aio.AioRpcError as exc:
                errors += 1
                if errors == 1:
                    log.warning("gRPC Predict failed: %s %s", exc.code(), exc.details())
                continue
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    return latencies, errors


async def _stream_load(stub, requests: list, window: int, seconds: float) -> tuple[list[float], int]:
    """Keep `window` messages in flight on one stream; responses come back in order, so latency pairs FIFO."""
    call = stub.PredictStream()
    sent: deque[float] = deque()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    index = 0
    for _ in range(window):
        sent.append(time.perf_counter())
        await call.write(requests[index % len(requests)])
        index += 1
    while sent:
        response = await call.read()
        if response is None:  # asyncio's EOF sentinel: the server ended the stream early
            raise RuntimeError(
                f"PredictStream ended with {len(sent)} messages unanswered: {await call.code()}"
            )
        latencies.append(time.perf_counter() - sent.popleft())
        if time.perf_counter() < deadline:
            sent.append(time.perf_counter())
            await call.write(requests[index % len(requests)])
            index += 1
    await call.done_writing()
    return latencies, 0


async def _drive(target: str, mode: str, requests: list, concurrency: int, seconds: float):
    import grpc

    from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=30)
        stub = pb_grpc.BurnoutRiskStub(channel)
        load = _unary_load if mode == "unary" else _stream_load
        return await load(stub, requests, concurrency, seconds)


def measure_grpc(
    setting: str,
    mode: str,
    target: str,
    records: pd.DataFrame,
    concurrency: int,
    seconds: float,
    warmup_s: float,
    server_pid: int,
) -> Measurement:
    """Warm up, then measure `mode` ("unary" or "stream") for `seconds`; server tree CPU and this client's
    CPU."""
    requests = build_requests(records)
    if warmup_s > 0:
        asyncio.run(_drive(target, mode, requests, concurrency, warmup_s))
    me = psutil.Process(os.getpid())
    client_before = sum(me.cpu_times()[:2])
    before, started = snapshot_tree_cpu(server_pid), time.monotonic()
    latencies, errors = asyncio.run(_drive(target, mode, requests, concurrency, seconds))
    wall = time.monotonic() - started
    cpu = cpu_percent_between(before, snapshot_tree_cpu(server_pid), wall)
    client_cpu = 100.0 * (sum(me.cpu_times()[:2]) - client_before) / wall
    result = summarize_latencies(
        setting,
        "ours",
        latencies,
        wall,
        errors=errors,
        cpu_percent=cpu,
        concurrency=concurrency,
        client_cpu_percent=client_cpu,
        load_generator="Python grpc.aio",
    )
    log.info(
        "%s: %.1f msg/s, p50 %.2f ms, server CPU %.0f%%, client CPU %.0f%%",
        setting,
        result.rps,
        result.p50_ms,
        cpu,
        client_cpu,
    )
    return result


def measure_grpc_unary(
    setting: str,
    target: str,
    records: pd.DataFrame,
    concurrency: int,
    seconds: float,
    warmup_s: float,
    server_pid: int,
) -> Measurement:
    return measure_grpc(setting, "unary", target, records, concurrency, seconds, warmup_s, server_pid)


def measure_grpc_stream(
    setting: str,
    target: str,
    records: pd.DataFrame,
    window: int,
    seconds: float,
    warmup_s: float,
    server_pid: int,
) -> Measurement:
    return measure_grpc(setting, "stream", target, records, window, seconds, warmup_s, server_pid)
