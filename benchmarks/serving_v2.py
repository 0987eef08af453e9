"""Open Inference Protocol (V2) measurements, our service against MLServer on the same model version: the same
request bodies to both (only the address differs), V2 REST with wrk and V2 gRPC with h2load, alternating
(ours, then MLServer's) per setting; the answers of both checked against the model first."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from tritonclient.grpc import service_pb2 as pb

from benchmarks import cases
from benchmarks.grpc_check import call_unary, check_ok, checked_call
from benchmarks.h2load import measure_grpc_h2load
from benchmarks.load import measure_http, write_load_files
from benchmarks.measurement import Measurement
from benchmarks.records import class_name, single_record_bodies
from benchmarks.servers import Server, count_service_errors
from benchmarks.v2_messages import (
    classes_from_grpc,
    classes_from_rest,
    grpc_request,
    probabilities_from_grpc,
    probabilities_from_rest,
    rest_body,
)
from etl.contract import CLASSES

log = logging.getLogger(__name__)
GRPC_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
TOLERANCE = 1e-9


def infer_path(model_name: str) -> str:
    return f"/v2/models/{model_name}/infer"


def check_v2_answers(servers: dict[str, Server], model_name: str, records: pd.DataFrame, reference) -> dict:
    """Score the batch over V2 REST and V2 gRPC on each server (the bodies the load sends) and compare with
    the model itself: the largest absolute difference from `predict_proba` and the share of classes equal to
    `predict`, per server and protocol. A server that does not answer stops the benchmark."""
    model_classes = [class_name(c) for c in reference.classes_]
    expected = pd.DataFrame(reference.predict_proba(records), columns=model_classes)[list(CLASSES)].to_numpy()
    expected_classes = [class_name(c) for c in reference.predict(records)]
    checks = {}
    for name, server in servers.items():
        response = httpx.post(
            server.url + infer_path(model_name),
            content=rest_body(records),
            headers={"Content-Type": "application/json"},
            timeout=120,
        )
        if response.status_code != 200:
            raise RuntimeError(f"{name} answered {response.status_code} over V2: {response.text[:500]}")
        request = grpc_request(records, model_name).SerializeToString()
        grpc_answer = pb.ModelInferResponse.FromString(
            call_unary(f"127.0.0.1:{server.grpc_port}", GRPC_INFER_PATH, request)
        )
        answers = {
            "rest": (probabilities_from_rest, classes_from_rest, response.json()),
            "grpc": (probabilities_from_grpc, classes_from_grpc, grpc_answer),
        }
        for protocol, (read_probabilities, read_classes, answer) in answers.items():
            error = float(np.abs(read_probabilities(answer, len(records), model_classes) - expected).max())
            classes = read_classes(answer)
            agreement = sum(a == b for a, b in zip(classes, expected_classes, strict=True)) / len(records)
            checks[f"{name}_v2_{protocol}_max_abs_proba_error"] = error
            checks[f"{name}_v2_{protocol}_predict_agreement"] = agreement
            if not error <= TOLERANCE or agreement < 1.0:
                log.warning("%s does not answer like the model itself over V2 %s: %s", name, protocol, checks)
    return checks


def measure_v2(
    servers: dict[str, Server],
    model_name: str,
    records: pd.DataFrame,
    seconds: float,
    warmup: float,
    workdir: Path,
) -> list[Measurement]:
    """Every V2 setting on every server in `servers` (name -> Server with a gRPC port)."""
    batch = records.iloc[: cases.BATCH_ROWS]
    singles = write_load_files(workdir, "v2_single", single_record_bodies(records, rest_body))
    batches = write_load_files(workdir, "v2_batch", [rest_body(batch)])
    results = []
    rest_cases = (
        (cases.V2_REST_SINGLE_C1, singles, 1, 1),
        (cases.V2_REST_SINGLE_C8, singles, 8, 1),
        (cases.V2_REST_BATCH_C1, batches, 1, len(batch)),
    )
    for setting, bodies, concurrency, rows in rest_cases:
        for name, server in servers.items():
            url = server.url + infer_path(model_name)
            results.append(
                measure_http(setting, name, server.pid, url, bodies, concurrency, seconds, warmup, rows)
            )
    grpc_cases = (
        (cases.V2_GRPC_SINGLE_C1, records.iloc[[0]], 1),
        (cases.V2_GRPC_SINGLE_C8, records.iloc[[0]], 8),
        (cases.V2_GRPC_BATCH_C1, batch, 1),
    )
    for setting, frame, concurrency in grpc_cases:
        for name, server in servers.items():
            target = f"127.0.0.1:{server.grpc_port}"
            call = checked_call(target, GRPC_INFER_PATH, grpc_request(frame, model_name))
            results.append(
                measure_grpc_h2load(
                    setting,
                    name,
                    server.pid,
                    f"http://{target}",
                    call,
                    workdir,
                    concurrency,
                    seconds,
                    warmup,
                    len(frame),
                    check_call=partial(check_ok, target, call),
                    count_errors=partial(count_service_errors, server) if name == cases.OURS else None,
                )
            )
    return results
