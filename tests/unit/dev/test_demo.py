"""What `burnout demo` prints: examples the three APIs accept as they are, the MLflow UI command, the
"serving" line, and a summary built from a pipeline run."""

from __future__ import annotations

import json
import shlex

import pytest

from burnout_dev.demo import (
    describe_stream,
    describe_summary,
    describe_usage,
    format_champion,
    mlflow_ui_command,
    summarize_pipeline,
)


def _payload(usage: str, command: str) -> str:
    """The -d payload of the example whose command line starts with `command`."""
    lines = usage.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(command))
    joined = " ".join(line.strip().rstrip("\\") for line in lines[start : start + 2])
    words = shlex.split(joined)
    return words[words.index("-d") + 1]


@pytest.fixture
def usage(make_settings) -> str:
    return describe_usage(make_settings(api_port=8801, grpc_port=50052))


def test_rest_example_is_a_valid_batch(usage):
    from burnout_api.schemas import EmployeeRecord

    records = json.loads(_payload(usage, "curl -s -X POST http://localhost:8801/predict"))

    assert len(records) == 1
    EmployeeRecord.model_validate(records[0])


def test_graphql_example_validates_against_the_schema(usage):
    from graphql import parse, validate

    from burnout_api.graphql_api.schema import build_schema
    from burnout_base.settings import Settings

    query = json.loads(_payload(usage, "curl -s -X POST http://localhost:8801/graphql"))["query"]
    schema = build_schema(Settings(_env_file=None))

    assert validate(schema._schema, parse(query)) == []
    # Within the request limits: validation passes, and only the resolver (without a core here) fails.
    assert schema.execute_sync(query, context_value={"core": None}).errors[0].path == ["predict"]


def test_grpcurl_example_parses_as_predict_request(usage):
    from google.protobuf import json_format

    from burnout_api.grpc_gen import burnout_pb2

    request = json_format.Parse(_payload(usage, "grpcurl"), burnout_pb2.PredictRequest())

    assert len(request.records) == 1 and request.records[0].HasField("mental_fatigue_score")
    assert "localhost:50052 burnout.v1.BurnoutRisk/Predict" in usage


def test_usage_ends_with_the_serving_line(usage):
    last = usage.strip().splitlines()[-1]
    assert last.startswith("serving ") and "http://localhost:8801" in last and "50052" in last


def test_stream_line_says_it_is_skipped_when_no_redis_answers(make_settings):
    from burnout_dev.processes import free_port

    assert describe_stream(make_settings(redis_url="")).startswith("stream: skipped (")
    line = describe_stream(make_settings(redis_url=f"redis://:secret@127.0.0.1:{free_port()}/0"))
    assert line.startswith("stream: skipped (no Redis answers at redis://:***@127.0.0.1:")
    assert "secret" not in line


def test_mlflow_ui_command_points_at_the_local_store(make_settings):
    settings = make_settings()
    assert mlflow_ui_command(settings).startswith(
        f"mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}"
    )
    assert (
        mlflow_ui_command(make_settings(mlflow_tracking_uri="http://mlflow:5001"))
        == "open http://mlflow:5001"
    )


def test_summarize_pipeline_reports_data_models_and_champion(make_settings):
    champion = {"family": "knn", "version": 2, "macro_f1_current_test": 0.8, "macro_f1_current_test_ci": None}
    run = {
        "dag_id": "burnout_pipeline",
        "run_id": "r1",
        "state": "success",
        "seconds": 12.0,
        "tasks": [
            {"task_id": "train", "seconds": 2.0},
            {"task_id": "train", "seconds": 3.0},
            {"task_id": "promote", "seconds": None},
        ],
        "outputs": {
            "ingest": {"uploaded": False},
            "summarize": {  # the pipeline's summary, as `burnout pipeline` prints it
                "dataset_version": "abc",
                "champion": champion,
                "promotion": {"decision": "kept", "current_champion_version": 2},
                "families": {
                    "knn": {"model_version": 2, "test_metrics": {"macro_f1": 0.8}, "reused": False},
                    "svm": {"model_version": 1, "test_metrics": {"macro_f1": 0.7}, "reused": True},
                },
                "etl": {"dataset_version": "abc", "reused": True, "rows_in": 10},
                "api_reload": {"status": "skipped"},
                "seconds": {"etl": 1.0, "total": 12.0},
            },
        },
    }

    summary = summarize_pipeline(run, make_settings())

    assert summary["pipeline"]["task_seconds"] == {"train": 5.0, "promote": 0.0}
    assert summary["dataset"]["dataset_version"] == "abc" and summary["dataset"]["reused"] is True
    assert summary["models"] == [
        {"family": "knn", "model_version": 2, "reused": False, "test_macro_f1": 0.8},
        {"family": "svm", "model_version": 1, "reused": True, "test_macro_f1": 0.7},
    ]
    assert summary["promotion"]["decision"] == "kept" and summary["champion"] == champion
    assert "Champion: knn v2, test macro-F1 0.800; kept" in describe_summary(summary)


def test_format_champion_gives_family_version_score_interval_and_decision():
    champion = {"family": "lightgbm", "version": 3, "macro_f1_current_test": 0.8734}
    champion["macro_f1_current_test_ci"] = [0.862, 0.884]

    line = format_champion(champion, "promoted")

    assert line == "lightgbm v3, test macro-F1 0.873 (95% CI 0.862-0.884); promoted"
