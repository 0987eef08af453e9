"""Serving measurements: our service, MLflow's scoring server and MLServer up on the same model version, their
answers checked against the model, then the same closed-loop load on each, alternating per setting: our REST
against MLflow's, our gRPC (with the fixed-response ceiling of our stack beside both protocols), then V2
against MLServer."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import httpx
import pandas as pd

from benchmarks import cases, curves
from benchmarks.ceiling import measure_ceiling, start_ceiling_server
from benchmarks.curves import Endpoint, measure_latency_curve, measure_throughput_curve, point_seconds
from benchmarks.grpc_check import call_unary, check_ok, checked_call
from benchmarks.grpc_load import build_requests, measure_grpc_stream, measure_grpc_unary
from benchmarks.h2load import GrpcCall, measure_grpc_h2load
from benchmarks.load import measure_http, write_load_files
from benchmarks.measurement import Measurement
from benchmarks.mlserver import start_champion_mlserver
from benchmarks.prediction_log_cost import remove_throwaway_log_lake, throwaway_log_lake
from benchmarks.records import class_name, mlflow_body, service_body, single_record_bodies
from benchmarks.servers import Server, count_service_errors, start_mlflow_server, start_service, stop_server
from benchmarks.serving_v2 import GRPC_INFER_PATH, check_v2_answers, infer_path, measure_v2
from benchmarks.v2_messages import grpc_request, rest_body
from burnout_base.settings import Settings
from burnout_dev.processes import free_port

log = logging.getLogger(__name__)
PREDICT_PATH = "/predict?model=champion"
INVOCATIONS_PATH = "/invocations"
GRPC_PREDICT_PATH = "/burnout.v1.BurnoutRisk/Predict"


def warmup_seconds(seconds: float) -> float:
    """A short warm-up before each measured run: a quarter of it, between 1 and 5 s (wrk counts whole
    seconds)."""
    return float(min(5, max(1, round(seconds / 4))))


def service_workers(settings: Settings) -> int:
    """The worker processes `burnout serve` starts with `settings` (burnout_api.workers decides). MLServer
    gets as many inference workers (issue 25: the same work spread over as many processes)."""
    from burnout_api.workers import worker_count

    return worker_count(settings)


def check_answers(ours: Server, mlflow: Server, records: pd.DataFrame, version: int, reference) -> dict:
    """Score the same batch on both servers before any load and compare with the model itself (`reference`,
    the same version loaded here): both must answer 200, ours with the expected version. Our probabilities
    should match `predict_proba` and MLflow's classes `predict` (MLflow's sklearn flavour serves `predict`); a
    mismatch is logged and reported, since it would mean the two servers do not do the same work."""
    mine = _post(ours.url + PREDICT_PATH, service_body(records), "our service")
    theirs = _post(mlflow.url + INVOCATIONS_PATH, mlflow_body(records), "MLflow's server")
    predictions = mine["predictions"]
    versions = {p["model_version"] for p in predictions}
    if versions != {version}:
        raise RuntimeError(f"our service answered with version(s) {sorted(versions)}, expected {version}")
    classes = [class_name(c) for c in reference.classes_]
    expected = pd.DataFrame(reference.predict_proba(records), columns=classes)
    ours_proba = pd.DataFrame([p["probabilities"] for p in predictions]).reindex(columns=classes)
    ours_error = float((ours_proba - expected).abs().to_numpy().max())
    their_classes = [class_name(c) for c in theirs["predictions"]]
    expected_classes = [class_name(c) for c in reference.predict(records)]
    mlflow_agreement = sum(a == b for a, b in zip(their_classes, expected_classes, strict=True)) / len(
        records
    )
    checks = {
        "records": len(records),
        "version": version,
        "ours_max_abs_proba_error": ours_error,
        "mlflow_predict_agreement": mlflow_agreement,
    }
    if not ours_error <= 1e-6 or mlflow_agreement < 1.0:
        log.warning("a server does not answer like the model itself: %s", checks)
    return checks


def _post(url: str, body: str, name: str) -> dict:
    response = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=120)
    if response.status_code != 200:
        raise RuntimeError(f"{name} answered {response.status_code} to a valid batch: {response.text[:500]}")
    return response.json()


def measure_servers(
    settings: Settings,
    version: int,
    records: pd.DataFrame,
    seconds: float,
    workdir: Path,
    reference,
    mlserver_venv: Path | None = None,
) -> tuple[list[Measurement], dict, list[dict]]:
    """Start the three servers, check them, run every serving setting, then the cost curves (their points,
    see benchmarks/curves.py); the servers are always stopped."""
    warmup = warmup_seconds(seconds)
    batch = records.iloc[: cases.BATCH_ROWS]
    files = {
        "ours_single": write_load_files(workdir, "ours_single", single_record_bodies(records, service_body)),
        "mlflow_single": write_load_files(
            workdir, "mlflow_single", single_record_bodies(records, mlflow_body)
        ),
        "ours_batch": write_load_files(workdir, "ours_batch", [service_body(batch)]),
        "mlflow_batch": write_load_files(workdir, "mlflow_batch", [mlflow_body(batch)]),
    }
    ours = mlflow = mlserver = None
    try:
        ours = start_service(
            settings, free_port(), free_port(), workdir / "logs", **throwaway_log_lake(workdir)
        )
        mlflow = start_mlflow_server(settings, version, free_port(), workdir / "logs")
        mlserver = start_champion_mlserver(
            settings, reference, version, workdir, mlserver_venv, parallel_workers=service_workers(settings)
        )
        v2_servers = {cases.OURS: ours, cases.MLSERVER: mlserver}
        checks = check_answers(ours, mlflow, batch, version, reference)
        checks |= check_v2_answers(v2_servers, settings.registered_model_name, batch, reference)
        results: list[Measurement] = []
        rest_cases = (
            (cases.REST_SINGLE_C1, "single", 1, 1),
            (cases.REST_SINGLE_C8, "single", 8, 1),
            (cases.REST_BATCH_C1, "batch", 1, len(batch)),
        )
        for setting, kind, concurrency, rows in rest_cases:
            for server, path, name in (
                (ours, PREDICT_PATH, cases.OURS),
                (mlflow, INVOCATIONS_PATH, cases.MLFLOW),
            ):
                results.append(
                    measure_http(
                        setting,
                        name,
                        server.pid,
                        server.url + path,
                        files[f"{name}_{kind}"],
                        concurrency,
                        seconds,
                        warmup,
                        rows,
                    )
                )
        results += measure_own_grpc(settings, ours, records, files["ours_single"], seconds, warmup, workdir)
        results += measure_v2(v2_servers, settings.registered_model_name, records, seconds, warmup, workdir)
        curves = measure_cost_curves(
            settings,
            ours,
            mlserver,
            records,
            files["ours_single"],
            point_seconds(seconds),
            workdir,
            reference,
        )
        return results, checks, curves
    finally:
        for server in (ours, mlflow, mlserver):
            if server is not None:
                stop_server(server)
        remove_throwaway_log_lake(workdir)


def measure_own_grpc(
    settings: Settings,
    ours: Server,
    records: pd.DataFrame,
    single_bodies: Path,
    seconds: float,
    warmup: float,
    workdir: Path,
) -> list[Measurement]:
    """Our own gRPC protocol, single records at c=8: with h2load (as lean as wrk, so comparable with the REST
    rows), then with the Python client (unary and stream), then the fixed-response ceiling of the same stack
    on both protocols."""
    target = f"127.0.0.1:{ours.grpc_port}"
    call = checked_call(target, GRPC_PREDICT_PATH, build_requests(records, 1)[0])
    results = [
        measure_grpc_h2load(
            cases.GRPC_UNARY_C8,
            cases.OURS,
            ours.pid,
            f"http://{target}",
            call,
            workdir,
            8,
            seconds,
            warmup,
            1,
            check_call=partial(check_ok, target, call),
            count_errors=partial(count_service_errors, ours),
        ),
        measure_grpc_unary(cases.GRPC_UNARY_C8_PYTHON, target, records, 8, seconds, warmup, ours.pid),
        measure_grpc_stream(cases.GRPC_STREAM_W8, target, records, 8, seconds, warmup, ours.pid),
    ]
    rest_answer, grpc_answer = fixed_answers(ours, single_bodies, call)
    return results + measure_ceiling(
        settings, rest_answer, single_bodies, call, grpc_answer, seconds, warmup, workdir
    )


def fixed_answers(ours: Server, single_bodies: Path, call: GrpcCall) -> tuple[bytes, bytes]:
    """What the fixed-response ceiling answers: ours to the first single record on REST and to `call` on
    gRPC, so both stacks move the same bytes."""
    rest_answer = httpx.post(
        ours.url + PREDICT_PATH,
        content=single_bodies.read_text().splitlines()[0],
        headers={"Content-Type": "application/json"},
        timeout=30,
    ).content
    return rest_answer, call_unary(f"127.0.0.1:{ours.grpc_port}", call.path, call.request)


def measure_cost_curves(
    settings: Settings,
    ours: Server,
    mlserver: Server,
    records: pd.DataFrame,
    single_bodies: Path,
    point_s: float,
    workdir: Path,
    reference,
) -> list[dict]:
    """Throughput against concurrency (ours and MLServer on both protocols, beside a fixed-response ceiling
    started for it), then latency per record against batch size (ours and the in-process floors, whose
    model is `reference`): `point_s` per point."""
    model_name = settings.registered_model_name
    own_call = checked_call(f"127.0.0.1:{ours.grpc_port}", GRPC_PREDICT_PATH, build_requests(records, 1)[0])
    rest_answer, grpc_answer = fixed_answers(ours, single_bodies, own_call)
    ceiling_call = GrpcCall(own_call.path, own_call.request, len(grpc_answer))
    ceiling = start_ceiling_server(settings, rest_answer, grpc_answer, workdir)
    try:
        endpoints = single_record_endpoints(
            ours, mlserver, ceiling, model_name, records, single_bodies, (own_call, ceiling_call), workdir
        )
        throughput = measure_throughput_curve(endpoints, point_s, workdir)
    finally:
        stop_server(ceiling)
    batch_endpoints_for = partial(batch_endpoints, ours, model_name, workdir)
    return throughput + measure_latency_curve(
        batch_endpoints_for, reference, records, point_s, workdir, settings
    )


def single_record_endpoints(
    ours: Server,
    mlserver: Server,
    ceiling: Server,
    model_name: str,
    records: pd.DataFrame,
    single_bodies: Path,
    calls: tuple[GrpcCall, GrpcCall],
    workdir: Path,
) -> list[Endpoint]:
    """The throughput curve's series: on each protocol ours (own and V2), MLServer's V2 and the ceiling;
    `calls`: our BurnoutRisk call and the ceiling's (the same request, its fixed answer's size)."""
    own_call, ceiling_call = calls
    v2_singles = write_load_files(workdir, "v2_single", single_record_bodies(records, rest_body))
    v2_request = grpc_request(records.iloc[[0]], model_name)
    v2_calls = {
        server.name: checked_call(f"127.0.0.1:{server.grpc_port}", GRPC_INFER_PATH, v2_request)
        for server in (ours, mlserver)
    }
    errors = partial(count_service_errors, ours)
    mlserver_s = curves.MLSERVER_POINT_S
    rest, grpc = curves.REST, curves.GRPC
    return [
        Endpoint(
            "REST /predict, ours", rest, cases.OURS, ours, url=ours.url + PREDICT_PATH, bodies=single_bodies
        ),
        Endpoint(
            "V2 REST, ours", rest, cases.OURS, ours, url=ours.url + infer_path(model_name), bodies=v2_singles
        ),
        Endpoint(
            "V2 REST, MLServer",
            rest,
            cases.MLSERVER,
            mlserver,
            url=mlserver.url + infer_path(model_name),
            bodies=v2_singles,
            seconds=mlserver_s,
        ),
        Endpoint(
            "REST fixed-response ceiling",
            rest,
            cases.CEILING,
            ceiling,
            url=ceiling.url + PREDICT_PATH,
            bodies=single_bodies,
        ),
        Endpoint("gRPC BurnoutRisk, ours", grpc, cases.OURS, ours, call=own_call, count_errors=errors),
        Endpoint("V2 gRPC, ours", grpc, cases.OURS, ours, call=v2_calls[ours.name], count_errors=errors),
        Endpoint(
            "V2 gRPC, MLServer",
            grpc,
            cases.MLSERVER,
            mlserver,
            call=v2_calls[mlserver.name],
            seconds=mlserver_s,
        ),
        Endpoint("gRPC fixed-response ceiling", grpc, cases.CEILING, ceiling, call=ceiling_call),
    ]


def batch_endpoints(ours: Server, model_name: str, workdir: Path, batch: pd.DataFrame) -> list[Endpoint]:
    """The latency curve's series at one batch size: our REST /predict, V2 REST and V2 gRPC."""
    size = len(batch)
    rest_bodies = write_load_files(workdir, f"curve_rest_{size}", [service_body(batch)])
    v2_bodies = write_load_files(workdir, f"curve_v2_rest_{size}", [rest_body(batch)])
    v2_call = checked_call(f"127.0.0.1:{ours.grpc_port}", GRPC_INFER_PATH, grpc_request(batch, model_name))
    errors = partial(count_service_errors, ours)
    rest, grpc = curves.REST, curves.GRPC
    return [
        Endpoint("REST /predict", rest, cases.OURS, ours, size, ours.url + PREDICT_PATH, rest_bodies),
        Endpoint("V2 REST", rest, cases.OURS, ours, size, ours.url + infer_path(model_name), v2_bodies),
        Endpoint("V2 gRPC", grpc, cases.OURS, ours, size, call=v2_call, count_errors=errors),
    ]
