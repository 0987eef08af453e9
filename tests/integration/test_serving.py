"""`burnout serve` as users run it: one process answering REST, GraphQL and gRPC from a model registered in
a real MLflow server. The same records get the same classes and probabilities over the three protocols, bad
input gets the documented error on each, a moved alias is served without a restart and SIGTERM stops it
cleanly."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from serving_support import isolated, register_synthetic_model, wait_for

from burnout_api.features import FEATURE_FIELDS
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
from burnout_api.schemas import EXAMPLE_RECORD
from burnout_base.settings import Settings
from burnout_dev.processes import free_port
from etl.contract import CLASSES, FEATURES
from etl.synthetic import generate_synthetic

pytestmark = pytest.mark.slow
MAX_BATCH = 50
GRAPHQL_PREDICT = """
query($records: [EmployeeInput!]!, $model: String!) {
  predict(records: $records, model: $model) {
    request_id
    model { alias version family }
    predictions { class probabilities { Low Medium High } model_version }
  }
}"""
# Every protocol is sent the same request id, which its answer returns: answers then compare whole.
SAME_ID = {"x-request-id": "same-request"}


class Service:
    def __init__(self, settings: Settings, process: subprocess.Popen, log: Path, versions: dict[str, int]):
        self.settings, self.process, self.log, self.versions = settings, process, log, versions
        self.url = f"http://127.0.0.1:{settings.api_port}"
        self.channel = grpc.insecure_channel(f"127.0.0.1:{settings.grpc_port}")
        self.stub = pb_grpc.BurnoutRiskStub(self.channel)


@pytest.fixture(scope="module")
def service(mlflow_server, tmp_path_factory):
    """`burnout serve` on free ports; champion + lightgbm -> a LightGBM version, knn -> a KNN version."""
    home = tmp_path_factory.mktemp("serve-home")
    base = Settings(_env_file=None, home=home, mlflow_tracking_uri=mlflow_server, mlflow_artifact_root=None)
    settings = isolated(
        base,
        api_host="127.0.0.1",
        api_port=free_port(),
        grpc_port=free_port(),
        alias_poll_s=0.5,
        max_batch=MAX_BATCH,
    )
    versions = {
        "lightgbm": register_synthetic_model(settings, "lightgbm", ("champion", "lightgbm")),
        "knn": register_synthetic_model(settings, "knn", ("knn",), seed=1),
    }
    env = {
        **os.environ,
        **{
            f"BURNOUT_{k.upper()}": str(v)
            for k, v in settings.model_dump().items()
            if v is not None
            and k
            in (
                "home",
                "mlflow_tracking_uri",
                "registered_model_name",
                "api_host",
                "api_port",
                "grpc_port",
                "alias_poll_s",
                "max_batch",
            )
        },
        "BURNOUT_RELOAD_TOKEN": "serving-test-token",
        # Answers are compared whole across calls: none may straddle the swap to the compiled trees, whose
        # probabilities differ from LightGBM's in the last bits (tests/unit: modeling and api/core).
        "BURNOUT_COMPILED_TREES": "false",
        # One process: a moved champion is checked on /ready, then on every protocol, all from the same
        # worker's view (several workers: tests/unit/api/test_workers.py).
        "BURNOUT_API_WORKERS": "1",
    }
    log = home / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "burnout"), "serve"],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    service = Service(settings, process, log, versions)
    try:
        wait_for(lambda: process.poll() is None and _get(service, "/ready").status_code == 200, timeout=180)
    except Exception:
        process.kill()
        raise RuntimeError(log.read_text()[-3000:]) from None
    yield service
    service.channel.close()
    if process.poll() is None:
        process.kill()
        process.wait()


def _get(service: Service, path: str) -> httpx.Response:
    try:
        return httpx.get(service.url + path, timeout=10)
    except httpx.HTTPError:
        return httpx.Response(599)


@pytest.fixture(scope="module")
def records() -> list[dict]:
    """Synthetic records as clients send them, some with missing (null) values."""
    frame = generate_synthetic(rows=30, seed=11)[list(FEATURES)].astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def as_graphql(record: dict) -> dict:
    return {f.key: record[f.name] for f in FEATURE_FIELDS if f.name in record}


def as_proto(record: dict) -> pb.Employee:
    return pb.Employee(**{f.key: record[f.name] for f in FEATURE_FIELDS if record.get(f.name) is not None})


def predict_rest(service: Service, records: list, alias: str = "champion") -> httpx.Response:
    return httpx.post(
        f"{service.url}/predict", params={"model": alias}, json=records, headers=SAME_ID, timeout=30
    )


def predict_graphql(service: Service, records: list, alias: str = "champion") -> dict:
    answer = httpx.post(
        f"{service.url}/graphql",
        timeout=30,
        headers=SAME_ID,
        json={
            "query": GRAPHQL_PREDICT,
            "variables": {"records": [as_graphql(r) for r in records], "model": alias},
        },
    )
    return answer.json()


def predict_grpc(service: Service, records: list, alias: str = "champion") -> dict:
    response = service.stub.Predict(
        pb.PredictRequest(records=[as_proto(r) for r in records], model=alias),
        metadata=tuple(SAME_ID.items()),
    )
    return {
        "request_id": response.request_id,
        "model": {
            "alias": response.model.alias,
            "version": response.model.version,
            "family": response.model.family,
        },
        "predictions": [
            {
                "class": p.class_name,
                "probabilities": {c: p.probabilities[c] for c in CLASSES},
                "model_version": p.model_version,
            }
            for p in response.predictions
        ],
    }


@pytest.mark.parametrize("alias", ["champion", "knn"])
def test_the_three_protocols_give_the_same_answers(service, records, alias):
    rest = predict_rest(service, records, alias)
    assert rest.status_code == 200
    rest = rest.json()
    family = "knn" if alias == "knn" else "lightgbm"
    assert rest["model"] == {"alias": alias, "version": service.versions[family], "family": family}
    assert len(rest["predictions"]) == len(records)
    assert predict_graphql(service, records, alias) == {"data": {"predict": rest}}
    assert predict_grpc(service, records, alias) == rest


def v2_columns(records: list) -> dict[str, tuple]:
    """Each feature as the numpy column a V2 client sends, with its datatype: NaN for a missing number."""
    columns = {}
    for field in FEATURE_FIELDS:
        values = [r[field.name] for r in records]
        if not field.column.is_numeric:
            columns[field.name] = (np.array(values, dtype=object), "BYTES")
        elif field.column.kind == "integer" and None not in values:
            columns[field.name] = (np.array(values, dtype=np.int64), "INT64")
        else:
            columns[field.name] = (
                np.array([math.nan if v is None else v for v in values], dtype=float),
                "FP64",
            )
    return columns


def predict_v2(service: Service, records: list, alias: str) -> dict[str, list]:
    """The same records through tritonclient, a real Open Inference Protocol client: its HTTP client (JSON
    tensors) and its gRPC client (raw tensors), on the version behind `alias` named by its number."""
    import asyncio

    import tritonclient.grpc as triton_grpc
    import tritonclient.http.aio as triton_http

    version = str(service.versions["knn" if alias == "knn" else "lightgbm"])
    columns = v2_columns(records)

    async def over_http() -> tuple:
        client = triton_http.InferenceServerClient(service.url.removeprefix("http://"))
        try:
            inputs = []
            for name, (array, datatype) in columns.items():
                tensor = triton_http.InferInput(name, list(array.shape), datatype)
                tensor.set_data_from_numpy(array, binary_data=False)
                inputs.append(tensor)
            assert await client.is_server_ready() and await client.is_model_ready(
                service.settings.registered_model_name
            )
            answer = await client.infer(service.settings.registered_model_name, inputs, model_version=version)
            return list(answer.as_numpy("class")), answer.as_numpy("probabilities").tolist()
        finally:
            await client.close()

    grpc_client = triton_grpc.InferenceServerClient(f"127.0.0.1:{service.settings.grpc_port}")
    inputs = []
    for name, (array, datatype) in columns.items():
        tensor = triton_grpc.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    answer = grpc_client.infer(service.settings.registered_model_name, inputs, model_version=version)
    grpc_client.close()
    http_classes, http_probabilities = asyncio.run(over_http())
    return {
        "http": [http_classes, http_probabilities],
        "grpc": [[c.decode() for c in answer.as_numpy("class")], answer.as_numpy("probabilities").tolist()],
    }


@pytest.mark.parametrize("alias", ["champion", "knn"])
def test_open_inference_protocol_clients_get_the_same_answers(service, records, alias):
    rest = predict_rest(service, records, alias).json()["predictions"]
    expected = [[p["class"] for p in rest], [[p["probabilities"][c] for c in CLASSES] for p in rest]]
    answers = predict_v2(service, records, alias)
    assert answers["http"] == expected
    assert answers["grpc"] == expected


REST_CASES = {
    "unknown column": ([{**EXAMPLE_RECORD, "Shoe Size": 44}], 0, "Shoe Size"),
    "wrong type": ([EXAMPLE_RECORD, {**EXAMPLE_RECORD, "Team Size": "ten"}], 1, "Team Size"),
    "out of range": ([{**EXAMPLE_RECORD, "Sleep Hours": 25}], 0, "Sleep Hours"),
    "unknown category": ([{**EXAMPLE_RECORD, "Company Type": "NGO"}], 0, "Company Type"),
    "NaN": ([{**EXAMPLE_RECORD, "Mental Fatigue Score": math.nan}], 0, "Mental Fatigue Score"),
    "infinity": ([{**EXAMPLE_RECORD, "Sleep Hours": math.inf}], 0, "Sleep Hours"),
    "empty batch": ([], None, None),
    "batch over the maximum": ([EXAMPLE_RECORD] * (MAX_BATCH + 1), None, None),
}


@pytest.mark.parametrize("case", list(REST_CASES))
def test_rest_answers_422_naming_record_and_field(service, case):
    body, record, field = REST_CASES[case]
    import json

    answer = httpx.post(
        f"{service.url}/predict",
        content=json.dumps(body),
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    detail = answer.json()["detail"][0]
    assert (detail["record"], detail["field"]) == (record, field)


# GraphQL's and protobuf's own type systems refuse unknown fields and wrong types before the core sees them
# (and JSON cannot carry NaN to GraphQL); the rest reaches the core's check.
GRAPHQL_CASES = {
    k: REST_CASES[k] for k in ("out of range", "unknown category", "empty batch", "batch over the maximum")
}
GRPC_CASES = {
    k: REST_CASES[k]
    for k in ("out of range", "unknown category", "NaN", "infinity", "empty batch", "batch over the maximum")
}


@pytest.mark.parametrize("case", list(GRAPHQL_CASES))
def test_graphql_answers_invalid_argument_naming_record_and_field(service, case):
    body, record, field = GRAPHQL_CASES[case]
    error = predict_graphql(service, body)["errors"][0]
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert (
        error["extensions"]["errors"][0]["record"] == record
        and error["extensions"]["errors"][0]["field"] == field
    )


def test_graphql_refuses_unknown_fields_and_wrong_types_by_name(service):
    for bad in ({"shoe_size": 44}, {"team_size": "ten"}):
        answer = httpx.post(
            f"{service.url}/graphql",
            timeout=30,
            json={
                "query": GRAPHQL_PREDICT,
                "variables": {
                    "records": [as_graphql(EXAMPLE_RECORD), {**as_graphql(EXAMPLE_RECORD), **bad}],
                    "model": "champion",
                },
            },
        )
        message = answer.json()["errors"][0]["message"]
        assert next(iter(bad)) in message and "records[1]" in message


@pytest.mark.parametrize("case", list(GRPC_CASES))
def test_grpc_answers_invalid_argument_naming_record_and_field(service, case):
    body, record, field = GRPC_CASES[case]
    with pytest.raises(grpc.RpcError) as caught:
        predict_grpc(service, body)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    if field is not None:
        assert f"record {record}, field {field!r}" in caught.value.details()


def test_metrics_count_every_protocol(service, records):
    text = httpx.get(f"{service.url}/metrics", timeout=10).text
    version = service.versions["lightgbm"]
    for protocol in ("rest", "graphql", "grpc"):
        assert (
            f'burnout_predict_requests_total{{alias="champion",protocol="{protocol}",version="{version}"}}'
            in text
        )
        assert (
            f'burnout_predict_errors_total{{alias="champion",kind="invalid_input",protocol="{protocol}"}}'
            in text
        )


def test_a_moved_champion_is_served_without_a_restart(service, records):
    import mlflow

    from burnout_base.tracking import configure_mlflow

    configure_mlflow(service.settings)
    knn = service.versions["knn"]
    mlflow.MlflowClient().set_registered_model_alias(
        service.settings.registered_model_name, "champion", str(knn)
    )
    wait_for(lambda: _get(service, "/ready").json().get("champion_version") == knn, timeout=30)
    rest = predict_rest(service, records).json()
    assert rest["model"]["version"] == knn and {p["model_version"] for p in rest["predictions"]} == {knn}
    assert predict_graphql(service, records)["data"]["predict"] == rest
    assert predict_grpc(service, records) == rest


def test_sigterm_stops_the_service_gracefully(service):
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=30) == 0
    log = service.log.read_text()
    assert "stopping gRPC" in log and "Traceback" not in log
