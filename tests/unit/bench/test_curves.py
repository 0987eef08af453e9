"""The cost curves' sweeps: each point a short closed-loop run on a real server (the fixed-response ceiling,
which needs no model) with the real load generators, and the in-process floors on a real pipeline."""

from __future__ import annotations

import pytest
from sklearn.pipeline import Pipeline

from benchmarks import curves
from benchmarks.ceiling import start_ceiling_server
from benchmarks.ceiling_server import GRPC_METHOD, GRPC_SERVICE, REST_PATH
from benchmarks.curves import (
    FULL_CORE,
    GRPC,
    IN_PROCESS,
    LATENCY_BY_BATCH,
    MODEL_ALONE,
    REST,
    THROUGHPUT_BY_CONCURRENCY,
    Endpoint,
    measure_latency_curve,
    measure_throughput_curve,
    point_seconds,
)
from benchmarks.h2load import GrpcCall, find_h2load
from benchmarks.load import find_wrk, write_load_files
from benchmarks.servers import stop_server
from etl.contract import FEATURES, TARGET, burn_rate_to_class
from etl.preprocess import build_preprocessor
from etl.synthetic import generate_synthetic
from modeling.families import FAMILIES

GRPC_ANSWER = b"\x0a\x03abc"


def test_a_point_runs_a_tenth_of_a_row_between_one_and_three_seconds():
    assert [point_seconds(s) for s in (1, 5, 20, 30, 200)] == [1, 1, 2, 3, 3]


@pytest.mark.slow
@pytest.mark.skipif(find_wrk() is None or find_h2load() is None, reason="wrk or h2load not installed")
def test_throughput_curve_measures_every_endpoint_at_every_concurrency(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(curves, "CONCURRENCIES", (1, 4))
    server = start_ceiling_server(settings, b'{"predictions": []}', GRPC_ANSWER, tmp_path)
    try:
        bodies = write_load_files(tmp_path, "bodies", ['[{"any": "record"}]'])
        call = GrpcCall(f"/{GRPC_SERVICE}/{GRPC_METHOD}", b"", len(GRPC_ANSWER))
        endpoints = [
            Endpoint("REST ceiling", REST, "ceiling", server, url=server.url + REST_PATH, bodies=bodies),
            Endpoint("gRPC ceiling", GRPC, "ceiling", server, call=call),
        ]
        points = measure_throughput_curve(endpoints, 1.0, tmp_path)
    finally:
        stop_server(server)

    assert [(p["series"], p["x"]) for p in points] == [
        ("REST ceiling", 1),
        ("gRPC ceiling", 1),
        ("REST ceiling", 4),
        ("gRPC ceiling", 4),
    ]
    for point in points:
        assert point["curve"] == THROUGHPUT_BY_CONCURRENCY
        assert point["concurrency"] == point["x"]
        assert point["requests"] > 0 and point["errors"] == 0
        assert point["load_generator"] == ("wrk" if point["protocol"] == REST else "h2load")


def small_pipeline() -> Pipeline:
    frame = generate_synthetic(rows=300, seed=0)
    frame = frame[frame[TARGET].notna()]
    spec = FAMILIES["lightgbm"]
    pipeline = Pipeline(
        [("preprocessor", build_preprocessor(0)), ("model", spec.build_estimator(spec.starting_params, 0))]
    )
    return pipeline.fit(frame[list(FEATURES)], frame[TARGET].map(burn_rate_to_class))


def test_latency_curve_times_the_in_process_floors_at_every_batch_size(make_settings, tmp_path, monkeypatch):
    settings = make_settings(compiled_trees=False)  # compiling is tested with the service's core
    monkeypatch.setattr(curves, "BATCH_SIZES", (1, 10))
    records = generate_synthetic(rows=10, seed=1)[list(FEATURES)]
    asked = []

    def endpoints_for(batch):  # no server here: only the in-process floors are measured
        asked.append(batch)
        return []

    points = measure_latency_curve(endpoints_for, small_pipeline(), records, 0.2, tmp_path, settings)

    assert [len(batch) for batch in asked] == [1, 10]  # the servers' endpoints are built per batch size
    assert [(p["series"], p["x"]) for p in points] == [
        (MODEL_ALONE, 1),
        (FULL_CORE, 1),
        (MODEL_ALONE, 10),
        (FULL_CORE, 10),
    ]
    for point in points:
        assert (point["curve"], point["protocol"]) == (LATENCY_BY_BATCH, IN_PROCESS)
        assert point["rows_per_request"] == point["x"] and point["requests"] >= 5


def test_latency_curve_refuses_fewer_records_than_its_largest_batch(settings, tmp_path):
    records = generate_synthetic(rows=10, seed=1)[list(FEATURES)]
    with pytest.raises(ValueError, match="10000 records"):
        measure_latency_curve(lambda batch: [], None, records, 0.2, tmp_path, settings)
