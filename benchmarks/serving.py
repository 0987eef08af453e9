"""Serving measurements: both servers up on the same model version, their answers checked against each other,
then the same closed-loop load on each, alternating (ours, then MLflow's, per setting), then our gRPC."""

from __future__ import annotations

import logging
import numbers
from pathlib import Path

import httpx
import pandas as pd

from benchmarks import cases
from benchmarks.grpc_load import measure_grpc_stream, measure_grpc_unary
from benchmarks.load import measure_http, write_load_files
from benchmarks.measurement import Measurement
from benchmarks.prediction_log_cost import remove_throwaway_log_lake, throwaway_log_lake
from benchmarks.records import mlflow_body, service_body, single_record_bodies
from benchmarks.servers import Server, start_mlflow_server, start_service, stop_server
from burnout.processes import free_port
from burnout_base.settings import Settings
from etl.contract import CLASSES

log = logging.getLogger(__name__)
PREDICT_PATH = "/predict?model=champion"
INVOCATIONS_PATH = "/invocations"


def warmup_seconds(seconds: float) -> float:
    """A short warm-up before each measured run: a quarter of it, between 1 and 5 s (wrk counts whole
    seconds)."""
    return float(min(5, max(1, round(seconds / 4))))


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
    classes = [_class_name(c) for c in reference.classes_]
    expected = pd.DataFrame(reference.predict_proba(records), columns=classes)
    ours_proba = pd.DataFrame([p["probabilities"] for p in predictions]).reindex(columns=classes)
    ours_error = float((ours_proba - expected).abs().to_numpy().max())
    their_classes = [_class_name(c) for c in theirs["predictions"]]
    expected_classes = [_class_name(c) for c in reference.predict(records)]
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
    settings: Settings, version: int, records: pd.DataFrame, seconds: float, workdir: Path, reference
) -> tuple[list[Measurement], dict]:
    """Start both servers, check them, run every serving setting; the servers are always stopped."""
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
    ours = mlflow = None
    try:
        grpc_port = free_port()
        ours = start_service(
            settings, free_port(), grpc_port, workdir / "logs", **throwaway_log_lake(workdir)
        )
        mlflow = start_mlflow_server(settings, version, free_port(), workdir / "logs")
        checks = check_answers(ours, mlflow, batch, version, reference)
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
        target = f"127.0.0.1:{grpc_port}"
        results.append(measure_grpc_unary(cases.GRPC_UNARY_C8, target, records, 8, seconds, warmup, ours.pid))
        results.append(
            measure_grpc_stream(cases.GRPC_STREAM_W8, target, records, 8, seconds, warmup, ours.pid)
        )
        return results, checks
    finally:
        for server in (ours, mlflow):
            if server is not None:
                stop_server(server)
        remove_throwaway_log_lake(workdir)


def _class_name(prediction: object) -> str:
    """A class label as its name: models may be trained on the names or on their positions in CLASSES."""
    if isinstance(prediction, dict):  # some flavours wrap each row's output
        prediction = next(iter(prediction.values()))
    if isinstance(prediction, numbers.Real) and not isinstance(prediction, bool):
        return CLASSES[int(prediction)]
    return str(prediction)
