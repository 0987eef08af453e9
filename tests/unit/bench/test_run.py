"""Smoke test of the whole benchmark: trains a small champion, starts both servers for real, drives them with
wrk and gRPC for about a second per setting, and writes the report. Numbers are not asserted: only that each
setting was measured without errors on answers that match the model."""

from __future__ import annotations

import json

import psutil
import pytest

from benchmarks import cases
from benchmarks.load import find_wrk
from benchmarks.run import run_bench


@pytest.mark.slow
@pytest.mark.skipif(find_wrk() is None, reason="wrk not installed (make system-deps)")
def test_run_bench_measures_both_servers_and_writes_report(settings, tmp_path):
    from etl.synthetic import write_synthetic_csv

    csv = tmp_path / "small.csv"
    write_synthetic_csv(csv, rows=1500, seed=3)
    before = set(psutil.Process().children(recursive=True))  # e.g. the session's MLflow server fixture

    result = run_bench(settings, seconds=1.0, pipeline=True, dataset=csv)

    measured = {(r["setting"], r["server"]): r for r in result["rows"]}
    for setting in (cases.REST_SINGLE_C1, cases.REST_SINGLE_C8, cases.REST_BATCH_C1):
        for server in (cases.OURS, cases.MLFLOW):
            assert measured[(setting, server)]["requests"] > 0
    assert measured[(cases.GRPC_UNARY_C8, cases.OURS)]["requests"] > 0
    assert measured[(cases.GRPC_STREAM_W8, cases.OURS)]["requests"] > 0
    assert measured[(cases.INPROC_1000, cases.PIPELINE)]["rows_per_request"] == cases.BATCH_ROWS
    assert all(r["errors"] == 0 for r in result["rows"])
    assert measured[(cases.REST_SINGLE_C8, cases.OURS)]["ratio_vs_mlflow"] > 0
    assert result["answers"]["ours_max_abs_proba_error"] <= 1e-6
    assert result["answers"]["mlflow_predict_agreement"] == 1.0
    bench = settings.home / "bench"
    assert json.loads((bench / "latest.json").read_text())["model_version"] == result["model_version"]
    assert f"| {cases.REST_SINGLE_C8} | {cases.OURS} |" in (bench / "latest.md").read_text()
    assert (bench / "latest.png").stat().st_size > 0
    assert set(psutil.Process().children(recursive=True)) <= before  # both servers stopped
    pipeline = result["pipeline"]
    assert (pipeline["data"], pipeline["rows"], pipeline["default_budget"]) == ("custom", 1500, False)
    assert {f["family"] for f in pipeline["families"]} == {"lightgbm", "knn", "svm", "ensemble"}
    assert 0 < pipeline["etl_s"] < pipeline["end_to_end_s"]
    assert 0 < pipeline["champion_test_macro_f1"] <= 1
    assert result["targets"][-1]["target"] == "pipeline end to end (s)"
