"""Ratios compare with MLflow's server and MLServer on the same work; targets fail or stay open honestly."""

from __future__ import annotations

import pytest

from benchmarks.cases import (
    CEILING,
    CEILING_GRPC_C8,
    CEILING_REST_C8,
    COMPILED_TREES,
    GRPC_UNARY_C8,
    INPROC_1,
    INPROC_1000,
    LIGHTGBM_PREDICT,
    MLFLOW,
    MLSERVER,
    OURS,
    REST_BATCH_C1,
    REST_SINGLE_C1,
    REST_SINGLE_C8,
    REST_SINGLE_C8_BALANCED,
    REST_SINGLE_C8_DIRECT,
    REST_SINGLE_C8_LOG_OFF,
    REST_SINGLE_C8_LOG_ON,
    V2_GRPC_SINGLE_C8,
    V2_REST_BATCH_C1,
    V2_REST_SINGLE_C8,
    add_ratios,
    evaluate_targets,
)


def row(setting, server, rps, p50=1.0, errors=0):
    return {
        "setting": setting,
        "server": server,
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p50 * 3,
        "errors": errors,
        "cpu_percent": 90.0,
    }


def rows_for(
    ours_c8=1200.0,
    mlflow_c8=100.0,
    ours_c1_p50=1.5,
    grpc=1500.0,
    batch=(5.0, 40.0),
    log=(1150.0, 1200.0),
    v2_rest=(1800.0, 50.0),
    v2_grpc=(1900.0, 60.0),
    v2_batch=(12.0, 60.0),
    ceiling=1500.0,
    balanced=(1100.0, 1200.0),
    ceiling_grpc=1500.0,
    workers=(1000.0, 1700.0),
    compiled=(200.0, 900.0),
):
    return add_ratios(
        [
            row(CEILING_GRPC_C8, CEILING, ceiling_grpc),
            row("REST 1 record, c=16, 1 worker", OURS, workers[0]),
            row("REST 1 record, c=16, 2 workers", OURS, workers[1]),
            row(INPROC_1000, LIGHTGBM_PREDICT, compiled[0]),
            row(INPROC_1000, COMPILED_TREES, compiled[1]),
            row(REST_SINGLE_C1, OURS, 600, ours_c1_p50),
            row(REST_SINGLE_C1, MLFLOW, 90, 10.0),
            row(REST_SINGLE_C8, OURS, ours_c8),
            row(REST_SINGLE_C8, MLFLOW, mlflow_c8),
            row(REST_BATCH_C1, OURS, 1000 / batch[0], batch[0]),
            row(REST_BATCH_C1, MLFLOW, 1000 / batch[1], batch[1]),
            row(GRPC_UNARY_C8, OURS, grpc),
            row(INPROC_1, "pipeline", 250.0),
            row(REST_SINGLE_C8_LOG_ON, OURS, log[0]),
            row(REST_SINGLE_C8_LOG_OFF, OURS, log[1]),
            row(V2_REST_SINGLE_C8, OURS, v2_rest[0]),
            row(V2_REST_SINGLE_C8, MLSERVER, v2_rest[1]),
            row(V2_GRPC_SINGLE_C8, OURS, v2_grpc[0]),
            row(V2_GRPC_SINGLE_C8, MLSERVER, v2_grpc[1]),
            row(V2_REST_BATCH_C1, OURS, 1000 / v2_batch[0], v2_batch[0]),
            row(V2_REST_BATCH_C1, MLSERVER, 1000 / v2_batch[1], v2_batch[1]),
            row(CEILING_REST_C8, CEILING, ceiling),
            row(REST_SINGLE_C8_BALANCED, OURS, balanced[0]),
            row(REST_SINGLE_C8_DIRECT, OURS, balanced[1]),
        ]
    )


def by_name(targets):
    return {t["target"]: t for t in targets}


def test_add_ratios_uses_each_settings_baseline():
    rows = {(r["setting"], r["server"]): r for r in rows_for()}
    assert rows[(REST_SINGLE_C8, OURS)]["ratio_vs_mlflow"] == pytest.approx(12.0)
    assert rows[(REST_SINGLE_C8, MLFLOW)]["ratio_vs_mlflow"] == pytest.approx(1.0)
    assert rows[(GRPC_UNARY_C8, OURS)]["ratio_vs_mlflow"] == pytest.approx(15.0)
    assert rows[(INPROC_1, "pipeline")]["ratio_vs_mlflow"] == pytest.approx(250 / 90)
    assert rows[(V2_GRPC_SINGLE_C8, OURS)]["ratio_vs_mlserver"] == pytest.approx(1900 / 60)
    assert rows[(V2_GRPC_SINGLE_C8, OURS)]["ratio_vs_mlflow"] is None  # MLflow speaks no V2
    assert rows[(REST_SINGLE_C8, OURS)]["ratio_vs_mlserver"] is None
    assert rows[(V2_REST_SINGLE_C8, OURS)]["ratio_baselines"] == {MLSERVER: V2_REST_SINGLE_C8}


def test_add_ratios_without_clean_baseline_is_none():
    rows = add_ratios([row(REST_SINGLE_C8, OURS, 900), row(REST_SINGLE_C8, MLFLOW, 80, errors=5)])
    assert rows[0]["ratio_vs_mlflow"] is None


def test_evaluate_targets_all_met():
    targets = evaluate_targets(rows_for(), None, workers=1)
    assert len(targets) == 15
    assert all(t["met"] is True for t in targets), [t for t in targets if t["met"] is not True]


def test_evaluate_targets_reports_misses():
    targets = by_name(
        evaluate_targets(
            rows_for(
                ours_c8=900.0,
                ours_c1_p50=2.5,
                grpc=800.0,
                batch=(20.0, 40.0),
                log=(1000.0, 1200.0),
                v2_rest=(900.0, 50.0),
                v2_grpc=(700.0, 60.0),
                v2_batch=(25.0, 60.0),
                ceiling=1400.0,
                balanced=(900.0, 1200.0),
                ceiling_grpc=1000.0,
                workers=(1000.0, 1500.0),
                compiled=(200.0, 600.0),
            ),
            None,
            workers=2,
        )
    )
    assert targets["V2 REST 1 record c=8: throughput vs MLServer"]["measured"] == pytest.approx(18.0)
    assert targets["V2 gRPC 1 record c=8: throughput vs our REST c=8"]["measured"] == pytest.approx(700 / 900)
    assert targets["REST 1 record c=8 per worker: throughput vs the fixed-response ceiling"][
        "measured"
    ] == pytest.approx(900 / 1400 / 2)
    assert targets["REST 1 record c=8: throughput vs MLflow"]["measured"] == pytest.approx(9.0)
    assert targets["prediction log: REST 1 record c=8 throughput, log on vs off"][
        "measured"
    ] == pytest.approx(1000 / 1200)
    assert targets["REST 1,000 records c=1: p50 ms"]["measured"] == pytest.approx(20.0)
    assert targets["gRPC fixed-response ceiling c=8 vs the REST one"]["measured"] == pytest.approx(
        1000 / 1400
    )
    workers = targets["API workers: REST 1 record c=16 throughput, workers = CPUs vs 1 worker"]
    assert workers["measured"] == pytest.approx(1.5) and workers["note"] == "2 workers"
    compiled = targets["in process 1,000 rows: compiled trees vs LightGBM (throughput)"]
    assert compiled["measured"] == pytest.approx(3.0)
    assert not any(t["met"] for t in targets.values())


def test_issue_25_targets_say_not_measured_without_their_rows():
    rows = [
        r
        for r in rows_for()
        if r["server"] != COMPILED_TREES and "c=16" not in r["setting"] and r["setting"] != CEILING_GRPC_C8
    ]
    targets = by_name(evaluate_targets(rows, None))  # worker count unknown too
    for name in (
        "API workers: REST 1 record c=16 throughput, workers = CPUs vs 1 worker",
        "in process 1,000 rows: compiled trees vs LightGBM (throughput)",
        "gRPC fixed-response ceiling c=8 vs the REST one",
        "REST 1 record c=8 per worker: throughput vs the fixed-response ceiling",
    ):
        assert targets[name]["met"] is None and targets[name]["measured"] is None, name


def test_mlserver_targets_name_the_inference_workers_both_had():
    targets = by_name(evaluate_targets(rows_for(), None, workers=2))
    assert targets["V2 gRPC 1 record c=8: throughput vs MLServer"]["note"] == "2 inference worker(s) each"


def test_evaluate_targets_with_errors_is_not_a_pass():
    rows = rows_for()
    next(r for r in rows if r["setting"] == REST_SINGLE_C8 and r["server"] == OURS)["errors"] = 3
    targets = by_name(evaluate_targets(rows, None))
    assert targets["REST 1 record c=8: throughput vs MLflow"]["met"] is None
    assert targets["gRPC 1 record c=8: throughput vs our REST c=8"]["met"] is None


def test_evaluate_targets_pipeline_on_synthetic_data_says_so():
    pipeline = {"end_to_end_s": 420.0, "data": "synthetic", "default_budget": True}
    target = by_name(evaluate_targets(rows_for(), pipeline))["pipeline end to end (s)"]
    assert target["met"] is True
    assert "synthetic" in target["note"]
    slow = {"end_to_end_s": 700.0, "data": "real", "default_budget": True}
    assert by_name(evaluate_targets(rows_for(), slow))["pipeline end to end (s)"]["met"] is False
