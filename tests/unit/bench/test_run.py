"""Smoke test of the whole benchmark: trains a small champion, starts our service, MLflow's server, MLServer
and the fixed-answer ceiling for real, drives them with wrk, h2load and the Python gRPC client for about a
second per setting, and writes the report. Numbers are not asserted: only that each setting was measured
without errors on answers that match the model."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from benchmarks import cases
from benchmarks.balancer_cost import find_haproxy
from benchmarks.h2load import find_h2load
from benchmarks.load import find_wrk
from benchmarks.run import run_bench

MLSERVER_VENV = Path(__file__).resolve().parents[3] / ".local" / "mlserver-venv"  # kept between runs


@pytest.mark.slow
@pytest.mark.skipif(
    find_wrk() is None or find_h2load() is None or find_haproxy() is None,
    reason="wrk, h2load or haproxy not installed (make system-deps)",
)
def test_run_bench_measures_both_servers_and_writes_report(settings, tmp_path):
    from etl.synthetic import write_synthetic_csv

    csv = tmp_path / "small.csv"
    write_synthetic_csv(csv, rows=1500, seed=3)
    before = set(psutil.Process().children(recursive=True))  # e.g. the session's MLflow server fixture

    # The pipeline and ETL-memory benchmarks are left out: they only run `burnout pipeline` and the ETL
    # (tested end to end elsewhere; their summaries are unit-tested) and cost minutes; the serving rows,
    # which need the servers started for real, are what this test checks.
    result = run_bench(
        settings, seconds=1.0, pipeline=False, etl=False, dataset=csv, mlserver_venv=MLSERVER_VENV
    )

    measured = {(r["setting"], r["server"]): r for r in result["rows"]}
    for setting in (cases.REST_SINGLE_C1, cases.REST_SINGLE_C8, cases.REST_BATCH_C1):
        for server in (cases.OURS, cases.MLFLOW):
            assert measured[(setting, server)]["requests"] > 0
    assert measured[(cases.GRPC_UNARY_C8, cases.OURS)]["requests"] > 0
    assert measured[(cases.GRPC_STREAM_W8, cases.OURS)]["requests"] > 0
    assert measured[(cases.GRPC_UNARY_C8_PYTHON, cases.OURS)]["requests"] > 0
    for setting in (cases.V2_REST_SINGLE_C8, cases.V2_REST_BATCH_C1, cases.V2_GRPC_SINGLE_C8):
        for server in (cases.OURS, cases.MLSERVER):
            assert measured[(setting, server)]["requests"] > 0
        assert measured[(setting, cases.OURS)]["ratio_vs_mlserver"] > 0
    for setting in (cases.CEILING_REST_C8, cases.CEILING_GRPC_C8):
        assert measured[(setting, cases.CEILING)]["requests"] > 0
    assert measured[(cases.GRPC_UNARY_C8, cases.OURS)]["load_generator"] == "h2load"
    assert measured[(cases.REST_SINGLE_C8, cases.OURS)]["client_cpu_percent"] > 0
    assert measured[(cases.INPROC_1000, cases.PIPELINE)]["rows_per_request"] == cases.BATCH_ROWS
    assert all(r["errors"] == 0 for r in result["rows"])
    assert measured[(cases.REST_SINGLE_C8, cases.OURS)]["ratio_vs_mlflow"] > 0
    assert result["answers"]["ours_max_abs_proba_error"] <= 1e-6
    assert result["answers"]["mlflow_predict_agreement"] == 1.0
    for server in (cases.OURS, cases.MLSERVER):
        for protocol in ("rest", "grpc"):
            assert result["answers"][f"{server}_v2_{protocol}_max_abs_proba_error"] <= 1e-9
            assert result["answers"][f"{server}_v2_{protocol}_predict_agreement"] == 1.0
    bench = settings.home / "bench"
    assert json.loads((bench / "latest.json").read_text())["model_version"] == result["model_version"]
    assert f"| {cases.REST_SINGLE_C8} | {cases.OURS} |" in (bench / "latest.md").read_text()
    assert (bench / "latest.png").stat().st_size > 0
    assert set(psutil.Process().children(recursive=True)) <= before  # every server stopped
    assert result["pipeline"] is None and result["etl_memory"] is None
    for setting in (cases.REST_SINGLE_C8_BALANCED, cases.REST_SINGLE_C8_DIRECT):
        assert measured[(setting, cases.OURS)]["requests"] > 0
