"""The prediction log end to end (issue 13): `burnout serve` as users run it answers predictions over REST,
GraphQL and gRPC, and once SIGTERM has drained it the lake holds exactly one row per answered record, with
the protocol, alias, model version and class each answer had; on the local lake and on S3 (moto)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import grpc
import httpx
import pytest
from pydantic import SecretStr
from serving_support import isolated, register_synthetic_model, wait_for

from burnout_api.features import FEATURE_FIELDS
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
from burnout_base.settings import Settings
from burnout_dev.processes import free_port
from etl.contract import FEATURES
from etl.lake import lake_from_settings
from etl.synthetic import generate_synthetic
from monitoring.prediction_log import read_predictions

pytestmark = pytest.mark.slow
GRAPHQL_PREDICT = """
query($records: [EmployeeInput!]!, $model: String!) {
  predict(records: $records, model: $model) { predictions { class model_version } }
}"""
PASSED = (
    "home",
    "mlflow_tracking_uri",
    "registered_model_name",
    "api_host",
    "api_port",
    "grpc_port",
    "shutdown_grace_s",
    "lake_backend",
    "s3_endpoint_url",
    "predictions_bucket",
    "prediction_log_flush_rows",
    "prediction_log_flush_s",
    "api_workers",
)


@pytest.fixture(scope="module")
def records() -> list[dict]:
    """Synthetic records as clients send them, missing values included."""
    frame = generate_synthetic(rows=40, seed=3)[list(FEATURES)].astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def start_service(settings: Settings, **secrets: str) -> subprocess.Popen:
    env = {f"BURNOUT_{k.upper()}": str(v) for k, v in settings.model_dump().items() if k in PASSED and v}
    env |= {"BURNOUT_RELOAD_TOKEN": "prediction-log-test", **secrets}
    log = settings.home / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "burnout"), "serve"],
            env={**os.environ, **env},
            cwd=settings.home,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{settings.api_port}/ready", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(lambda: process.poll() is None and ready(), timeout=180)
    except TimeoutError:
        process.kill()
        raise RuntimeError(log.read_text()[-3000:]) from None
    return process


def send_predictions(settings: Settings, records: list[dict]) -> list[tuple[str, str, int, str]]:
    """Predictions over the three protocols, single records and batches, champion and another alias:
    (protocol, alias, version, class) of every record answered."""
    url = f"http://127.0.0.1:{settings.api_port}"
    answered = []
    sizes = [1, 1, 3, 1, 5, 1, 2]
    batches, start = [], 0
    for size in sizes:
        batches.append(records[start : start + size])
        start += size
    with httpx.Client(timeout=30) as http:
        for i, batch in enumerate(batches):
            alias = "lightgbm" if i % 3 == 2 else "champion"
            answer = http.post(f"{url}/predict", params={"model": alias}, json=batch)
            assert answer.status_code == 200
            answered += [
                ("rest", alias, p["model_version"], p["class"]) for p in answer.json()["predictions"]
            ]
        refused = http.post(f"{url}/predict", json=[{**records[0], "Sleep Hours": 99}])
        assert refused.status_code == 422  # refused: not an answer, not logged
        for i, batch in enumerate(batches[:4]):
            alias = "lightgbm" if i == 1 else "champion"
            variables = {"records": [_as_fields(r, drop_none=False) for r in batch], "model": alias}
            body = http.post(f"{url}/graphql", json={"query": GRAPHQL_PREDICT, "variables": variables}).json()
            answered += [
                ("graphql", alias, p["model_version"], p["class"])
                for p in body["data"]["predict"]["predictions"]
            ]
    with grpc.insecure_channel(f"127.0.0.1:{settings.grpc_port}") as channel:
        stub = pb_grpc.BurnoutRiskStub(channel)
        for i, batch in enumerate(batches[2:]):
            alias = "lightgbm" if i == 0 else "champion"
            request = pb.PredictRequest(records=[pb.Employee(**_as_fields(r)) for r in batch], model=alias)
            response = stub.Predict(request, timeout=30)
            answered += [("grpc", alias, p.model_version, p.class_name) for p in response.predictions]
    return answered


def _as_fields(record: dict, drop_none: bool = True) -> dict:
    return {f.key: record[f.name] for f in FEATURE_FIELDS if not (drop_none and record[f.name] is None)}


def run_and_stop(settings: Settings, records: list[dict], **secrets: str) -> list[tuple[str, str, int, str]]:
    register_synthetic_model(settings, aliases=("champion", "lightgbm"))
    process = start_service(settings, **secrets)
    try:
        answered = send_predictions(settings, records)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=settings.shutdown_grace_s + 10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = (settings.home / "serve.log").read_text()
    assert "prediction log:" not in log, log[-3000:]  # nothing dropped, nothing left unwritten
    return answered


def assert_logged(logged, answered: list[tuple[str, str, int, str]]) -> None:
    columns = ["protocol", "alias", "model_version", "predicted_class"]
    rows = [(p, a, int(v), c) for p, a, v, c in logged[columns].itertuples(index=False, name=None)]
    assert len(logged) == len(answered)
    assert Counter(rows) == Counter(answered)
    assert Counter(logged["protocol"]) == Counter(a[0] for a in answered)
    assert (
        logged.groupby("request_id")["record_index"].apply(lambda s: sorted(s) == list(range(len(s)))).all()
    )


@pytest.fixture
def serve_settings(mlflow_server, tmp_path) -> Settings:
    home = tmp_path / "serve-home"
    home.mkdir()
    base = Settings(_env_file=None, home=home, mlflow_tracking_uri=mlflow_server, mlflow_artifact_root=None)
    # Batches of 7 rows: some are written while serving, the rest by the flush at SIGTERM.
    return isolated(
        base,
        api_port=free_port(),
        grpc_port=free_port(),
        shutdown_grace_s=3.0,
        prediction_log_flush_rows=7,
        prediction_log_flush_s=60.0,
        api_workers=1,
    )


def test_every_answer_over_every_protocol_is_in_the_local_lake_after_sigterm(serve_settings, records):
    # Two workers, each writing its own parts and flushing them at SIGTERM: together they hold every answer.
    answered = run_and_stop(serve_settings.model_copy(update={"api_workers": 2}), records)
    assert len(answered) == 14 + 6 + 12
    logged = read_predictions(
        lake_from_settings(serve_settings), serve_settings.predictions_bucket, date.min, date.max
    )
    assert_logged(logged, answered)


def test_every_answer_is_in_the_s3_lake_after_sigterm(serve_settings, records, s3_endpoint):
    import boto3

    settings = serve_settings.model_copy(
        update={"lake_backend": "s3", "s3_endpoint_url": s3_endpoint, "predictions_bucket": "predictions-log"}
    )
    keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **keys)
    if settings.predictions_bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=settings.predictions_bucket)
    answered = run_and_stop(settings, records, BURNOUT_S3_ACCESS_KEY="test", BURNOUT_S3_SECRET_KEY="test")
    reader = settings.model_copy(
        update={"s3_access_key": SecretStr("test"), "s3_secret_key": SecretStr("test")}
    )
    logged = read_predictions(lake_from_settings(reader), settings.predictions_bucket, date.min, date.max)
    assert_logged(logged, answered)
