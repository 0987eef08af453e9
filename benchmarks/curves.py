"""Cost curves (issue 25): short closed-loop runs swept over one dimension each, on servers already up.

- Latency per record against batch size (BATCH_SIZES, c=1): our REST /predict, V2 REST and V2 gRPC, and the
  in-process floor beside them: the model alone (the service's scorer on validated arrays) and the full core
  (the JSON body in, the JSON answer out, no server).
- Throughput against concurrency (CONCURRENCIES, single records): REST (our /predict, our V2 REST,
  MLServer's V2 REST) and gRPC (our BurnoutRisk, our V2 gRPC, MLServer's V2 gRPC), each protocol beside the
  fixed-response ceiling of our server stack.

A sweep point runs `point_seconds(seconds)` (shorter than a headline row's `seconds`: a curve is read for its
shape) and MLServer's points `MLSERVER_POINT_S` (about 90 req/s: a second gives it 90 answers). Every point is
a dict: `curve`, `series`, `protocol`, `x` (records per request or concurrency) and a Measurement's fields."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from benchmarks.grpc_check import check_ok
from benchmarks.h2load import GrpcCall, measure_grpc_h2load
from benchmarks.inprocess import as_record_batch, time_calls
from benchmarks.load import measure_http
from benchmarks.measurement import Measurement
from benchmarks.records import service_body
from benchmarks.servers import Server

log = logging.getLogger(__name__)
BATCH_SIZES = (1, 10, 100, 1_000, 10_000)
CONCURRENCIES = (1, 2, 4, 8, 16, 32)
LATENCY_BY_BATCH, THROUGHPUT_BY_CONCURRENCY = "latency by batch size", "throughput by concurrency"
REST, GRPC, IN_PROCESS = "REST", "gRPC", "in process"
MODEL_ALONE, FULL_CORE = "in process: model alone", "in process: full core (JSON in, JSON out)"
MLSERVER_POINT_S = 1.0


def point_seconds(seconds: float) -> float:
    """A sweep point's run: a tenth of a headline row's, 1 to 3 s (wrk and h2load count whole seconds)."""
    return float(min(3, max(1, round(seconds / 10))))


@dataclass(frozen=True)
class Endpoint:
    """Where one series sends its load: REST when `bodies` is set (wrk POSTs them to `url`), else gRPC
    (h2load sends `call` to the server's gRPC port). `count_errors` reads the server's own error counter."""

    series: str
    protocol: str
    server_name: str
    server: Server
    rows: int = 1
    url: str = ""
    bodies: Path | None = None
    call: GrpcCall | None = None
    count_errors: Callable[[], float] | None = None
    seconds: float | None = None  # this series' run per point, when not the sweep's


def measure_point(
    endpoint: Endpoint, setting: str, concurrency: int, seconds: float, warmup: float, workdir: Path
) -> Measurement:
    """One closed-loop run on `endpoint`: wrk for REST, h2load (after one checked call) for gRPC."""
    seconds = endpoint.seconds or seconds
    if endpoint.bodies is not None:
        return measure_http(
            setting,
            endpoint.server_name,
            endpoint.server.pid,
            endpoint.url,
            endpoint.bodies,
            concurrency,
            seconds,
            warmup,
            endpoint.rows,
        )
    target = f"127.0.0.1:{endpoint.server.grpc_port}"
    return measure_grpc_h2load(
        setting,
        endpoint.server_name,
        endpoint.server.pid,
        f"http://{target}",
        endpoint.call,
        workdir,
        concurrency,
        seconds,
        warmup,
        endpoint.rows,
        check_call=partial(check_ok, target, endpoint.call),
        count_errors=endpoint.count_errors,
    )


def curve_point(curve: str, series: str, protocol: str, x: int, measurement: Measurement) -> dict:
    return {"curve": curve, "series": series, "protocol": protocol, "x": x, **measurement.to_dict()}


def measure_throughput_curve(endpoints: list[Endpoint], seconds: float, workdir: Path) -> list[dict]:
    """Every endpoint at every concurrency, alternating endpoints at each (the machine's drift falls on all);
    a warm-up before each endpoint's first point only, the servers being warm after it."""
    points = []
    for index, concurrency in enumerate(CONCURRENCIES):
        for endpoint in endpoints:
            run_s = endpoint.seconds or seconds
            setting = f"{endpoint.series}, c={concurrency}"
            measured = measure_point(
                endpoint, setting, concurrency, run_s, run_s if index == 0 else 0, workdir
            )
            points.append(
                curve_point(
                    THROUGHPUT_BY_CONCURRENCY, endpoint.series, endpoint.protocol, concurrency, measured
                )
            )
    return points


def measure_latency_curve(
    endpoints_for: Callable[[pd.DataFrame], list[Endpoint]],
    pipeline,
    records: pd.DataFrame,
    seconds: float,
    workdir: Path,
    core_settings,
) -> list[dict]:
    """For each batch size: the endpoints `endpoints_for(batch)` builds at c=1 (no warm-up: the servers are
    warm and the p50 of a run does not see its first call), then the two in-process floors."""
    if len(records) < max(BATCH_SIZES):
        raise ValueError(f"need {max(BATCH_SIZES)} records for the batch sweep, got {len(records)}")
    model, answer = in_process_floors(pipeline, core_settings)
    points = []
    for size in BATCH_SIZES:
        batch = records.iloc[:size]
        for endpoint in endpoints_for(batch):
            setting = f"{endpoint.series}, {records_label(size)}"
            measured = measure_point(endpoint, setting, 1, seconds, 0, workdir)
            points.append(curve_point(LATENCY_BY_BATCH, endpoint.series, endpoint.protocol, size, measured))
        validated, body = as_record_batch(batch), service_body(batch).encode()
        for series, call in ((MODEL_ALONE, partial(model, validated)), (FULL_CORE, partial(answer, body))):
            measured = time_calls(f"{series}, {records_label(size)}", "ours", call, seconds, size)
            points.append(curve_point(LATENCY_BY_BATCH, series, IN_PROCESS, size, measured))
    return points


def records_label(size: int) -> str:
    return "1 record" if size == 1 else f"{size:,} records"


def compile_like_the_service(loaded, settings):
    """A LightGBM's trees compiled as the service compiles them (`settings.compiled_trees`, the same cache),
    waiting until they answer: the servers measured beside it swapped theirs in long before the curves."""
    if settings.compiled_trees:
        compiling = loaded.compile_trees_in_background(settings.compiled_cache_dir)
        if compiling is not None:
            compiling.join()
    return loaded


def in_process_floors(pipeline, core_settings) -> tuple[Callable, Callable]:
    """(model alone, full core): the service's scorer on a validated RecordBatch, and the service's core from
    a JSON body to the JSON answer (validation, scoring, rendering; the prediction log off, it is the
    service's background work); both on compiled trees when the service compiles them."""
    from benchmarks.explain_latency import ALIAS, OneModelStore
    from burnout_api.core import InferenceCore
    from burnout_api.rendering import render_prediction_json

    core = InferenceCore(
        core_settings.model_copy(update={"prediction_log_enabled": False}), store=OneModelStore(pipeline)
    )
    core.refresh()
    # The model alone is the very model the core scores with: one compile, and the two floors differ only by
    # what the core does around it.
    loaded = compile_like_the_service(core.snapshot.models[ALIAS], core_settings)

    def answer(body: bytes) -> bytes:
        return render_prediction_json(core.predict(body, ALIAS), ALIAS)

    return loaded.predict_model_proba, answer
