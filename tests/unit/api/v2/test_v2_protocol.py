"""The Open Inference Protocol (V2) over REST and gRPC, on a core over an in-memory registry: what the
protocol's clients read (health, metadata, infer with named columns in MLServer's pandas convention) and
its errors. gRPC is called through tritonclient, a real V2 client; REST through its JSON, as curl would
send it (tests/integration/test_serving_v2.py drives a real `burnout serve` with tritonclient's HTTP
client too)."""

from __future__ import annotations

import json
import math

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
from fastapi.testclient import TestClient
from tritonclient.grpc import service_pb2 as v2
from tritonclient.grpc import service_pb2_grpc as v2_grpc
from tritonclient.utils import InferenceServerException

from burnout_api.core import InferenceCore
from burnout_api.grpc_api.server import start_grpc_server
from burnout_api.main import create_app
from burnout_api.v2.tensors import INPUTS
from burnout_api.validation import validate_records
from etl.contract import BY_NAME, CLASSES, FEATURES
from modeling.scoring import frame_of

NAME = "burnout-risk"
INFER = f"/v2/models/{NAME}/infer"


@pytest.fixture
def core(make_settings, make_store, lightgbm_pipeline, knn_pipeline, synthetic_background):
    store = make_store(
        {1: lightgbm_pipeline, 2: knn_pipeline},
        {"champion": 1, "lightgbm": 1, "knn": 2},
        {2: synthetic_background},
    )
    core = InferenceCore(make_settings(max_batch=50), store=store)
    core.refresh()
    return core


@pytest.fixture
def client(core) -> TestClient:
    with TestClient(create_app(core.settings, core)) as client:
        yield client


@pytest.fixture
def triton(core):
    server, port = start_grpc_server(core, "127.0.0.1", 0)
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{port}")
    yield client
    client.close()
    server.stop(0)


def body_of(records: list[dict], **extra) -> dict:
    """A V2 request as MLServer's pandas codec writes it: one input per column, null for a missing value."""
    inputs = [
        {
            "name": spec.name,
            "datatype": spec.datatype,
            "shape": [len(records)],
            "data": [r[spec.name] for r in records],
        }
        for spec in INPUTS
    ]
    return {"parameters": {"content_type": "pd"}, "inputs": inputs, **extra}


def expected(core: InferenceCore, records: list[dict], alias: str = "champion") -> tuple[list, np.ndarray]:
    model = core.snapshot.models[alias]
    labels, probabilities = model.scorer.predict(*_arrays(records))
    return labels, probabilities


def _arrays(records):
    batch = validate_records(records, 10_000)
    return batch.numeric, batch.categorical


def outputs_of(answer: dict) -> dict[str, dict]:
    return {output["name"]: output for output in answer["outputs"]}


# REST ---------------------------------------------------------------------------------------------------


def test_health_and_server_metadata(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2").json() == {"name": "burnout-risk-api", "version": "1.0", "extensions": []}


def test_model_metadata_lists_every_input_with_its_datatype(client):
    metadata = client.get(f"/v2/models/{NAME}").json()
    assert [i["name"] for i in metadata["inputs"]] == list(FEATURES)
    kinds = {i["name"]: i["datatype"] for i in metadata["inputs"]}
    assert kinds["Gender"] == "BYTES" and kinds["Team Size"] == "INT64" and kinds["Sleep Hours"] == "FP64"
    outputs = {o["name"]: o["shape"] for o in metadata["outputs"]}
    assert outputs["class"] == [-1] and outputs["probabilities"] == [-1, 3]
    assert metadata["versions"] == ["champion", "knn", "lightgbm", "1", "2"]
    assert metadata["parameters"]["classes"] == ",".join(CLASSES)
    assert client.get(f"/v2/models/{NAME}/versions/2").json()["parameters"]["alias"] == "knn"


def test_model_ready_by_alias_and_by_version(client):
    assert client.get(f"/v2/models/{NAME}/ready").status_code == 200
    assert client.get(f"/v2/models/{NAME}/versions/knn/ready").status_code == 200
    assert client.get(f"/v2/models/{NAME}/versions/1/ready").status_code == 200
    missing = client.get(f"/v2/models/{NAME}/versions/9/ready")
    assert missing.status_code == 404 and "only versions behind an alias" in missing.json()["error"]
    assert client.get("/v2/models/other/ready").status_code == 404


def test_infer_answers_the_models_own_classes_and_probabilities(client, core, raw_records):
    assert any(v is None for r in raw_records for v in r.values()), "the records must include missing values"
    answer = client.post(INFER, json=body_of(raw_records)).json()
    labels, probabilities = expected(core, raw_records)
    outputs = outputs_of(answer)
    assert answer["model_name"] == NAME and answer["model_version"] == "1"
    assert outputs["class"]["data"] == labels and outputs["class"]["shape"] == [len(raw_records)]
    assert outputs["probabilities"]["shape"] == [len(raw_records), 3]
    assert outputs["probabilities"]["parameters"] == {"classes": "Low,Medium,High"}
    assert np.array(outputs["probabilities"]["data"]).reshape(-1, 3).tolist() == probabilities.tolist()


def test_infer_by_version_number_alias_and_mlserver_output_names(client, core, raw_records):
    records = raw_records[:5]
    by_version = client.post(f"/v2/models/{NAME}/versions/2/infer", json=body_of(records)).json()
    by_alias = client.post(f"/v2/models/{NAME}/versions/knn/infer", json=body_of(records)).json()
    assert by_version["outputs"] == by_alias["outputs"] and by_version["model_version"] == "2"
    named = client.post(
        INFER, json=body_of(records, outputs=[{"name": "predict_proba"}, {"name": "predict"}])
    )
    outputs = named.json()["outputs"]
    assert [o["name"] for o in outputs] == ["predict_proba", "predict"]
    assert outputs[1]["data"] == expected(core, records)[0]
    # As MLServer answers predict_proba: the estimator's own columns, in its own class order.
    pipeline = core.snapshot.models["champion"].pipeline
    assert outputs[0]["parameters"]["classes"] == ",".join(pipeline.classes_)
    assert list(pipeline.classes_) != list(CLASSES)  # so that the order is really tested
    proba = pipeline.predict_proba(frame_of(*_arrays(records)))
    assert np.allclose(np.array(outputs[0]["data"]).reshape(-1, 3), proba, atol=1e-9)


def test_infer_takes_nested_rows_nan_for_missing_and_an_id(client, core, raw_records):
    record = dict(raw_records[0], **{"Mental Fatigue Score": None})
    body = body_of([record], id="request-7")
    for tensor in body["inputs"]:
        tensor["shape"], tensor["data"] = [1, 1], [tensor["data"]]
    raw = json.dumps(body).replace("null", "NaN")  # tritonclient writes a missing number so
    answer = client.post(INFER, content=raw, headers={"content-type": "application/json"}).json()
    assert answer["id"] == "request-7"
    assert outputs_of(answer)["class"]["data"] == expected(core, [record])[0]


def test_explanations_on_request(client, core, raw_records):
    records = raw_records[:3]
    answer = client.post(
        INFER, json=body_of(records, parameters={"content_type": "pd", "explain": True})
    ).json()
    outputs = outputs_of(answer)
    assert set(outputs) == {"class", "probabilities", "contributions", "contribution_base", "top_factors"}
    contributions = np.array(outputs["contributions"]["data"]).reshape(outputs["contributions"]["shape"])
    base = np.array(outputs["contribution_base"]["data"]).reshape(-1, 3)
    assert contributions.shape == (3, 3, len(FEATURES))
    # TreeSHAP on the log-odds: softmax(base + contributions) is the model's probability.
    logits = base + contributions.sum(-1)
    softmax = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    probabilities = np.array(outputs["probabilities"]["data"]).reshape(-1, 3)
    assert np.allclose(softmax, probabilities, atol=1e-9)
    assert outputs["top_factors"]["shape"] == [3, 3] and "raises" in " ".join(outputs["top_factors"]["data"])
    # Asking for an explanation output by name is asking to explain.
    only = client.post(INFER, json=body_of(records, outputs=[{"name": "top_factors"}])).json()
    assert [o["name"] for o in only["outputs"]] == ["top_factors"]


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        (lambda b: b["inputs"].pop(), 400, "'Recognition Frequency': is required"),
        (lambda b: b["inputs"].append(dict(b["inputs"][0], name="Age")), 400, "'Age': is not a model input"),
        (lambda b: b["inputs"].append(dict(b["inputs"][0])), 400, "is sent twice"),
        (lambda b: b["inputs"][0].update(datatype="FP64"), 400, "'Gender': must be BYTES"),
        (lambda b: b["inputs"][5].update(datatype="BYTES"), 400, "must be a number type"),
        (lambda b: b["inputs"][3].update(shape=[3]), 400, "has 3 rows where the first input has 2"),
        (lambda b: b["inputs"][3].update(shape=[2, 2]), 400, "must have shape [n] or [n, 1]"),
        (lambda b: b["inputs"][3]["data"].append(1), 400, "has 3 values for shape [2]"),
        (lambda b: b["inputs"][7]["data"].__setitem__(1, 25), 400, "record 1, field 'Sleep Hours'"),
        (lambda b: b["inputs"][0]["data"].__setitem__(0, "Robot"), 400, "record 0, field 'Gender'"),
        (lambda b: b["parameters"].update(content_type="np"), 400, "content_type 'pd'"),
        (lambda b: b["parameters"].update(explain="maybe"), 400, "parameters.explain"),
        (lambda b: b.update(outputs=[{"name": "score"}]), 400, "'score' is not an output"),
        (lambda b: b.update(inputs="nope"), 400, "not a V2 inference request"),
    ],
)
def test_bad_requests_get_the_protocols_error_naming_what_is_wrong(
    client, raw_records, change, status, words
):
    records = [dict(r, **{"Mental Fatigue Score": 5.0, "Resource Allocation": 5.0}) for r in raw_records[:2]]
    body = body_of(records)
    change(body)
    answer = client.post(INFER, json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]


def test_errors_for_models_batches_bodies_and_binary_data(client, raw_records):
    body = body_of(raw_records[:2])
    unknown = client.post("/v2/models/other/infer", json=body)
    assert unknown.status_code == 404 and "serves 'burnout-risk'" in unknown.json()["error"]
    alias = client.post(f"/v2/models/{NAME}/versions/nope/infer", json=body)
    assert alias.status_code == 404 and "no alias 'nope'" in alias.json()["error"]
    too_many = client.post(INFER, json=body_of(raw_records[:1] * 51))
    assert too_many.status_code == 400 and "the maximum is 50" in too_many.json()["error"]
    malformed = client.post(INFER, content=b'{"inputs": [', headers={"content-type": "application/json"})
    assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["error"]
    binary = client.post(INFER, json=body, headers={"Inference-Header-Content-Length": "10"})
    assert binary.status_code == 400 and "binary_data=False" in binary.json()["error"]


def test_explaining_a_model_without_explainer_is_409(make_settings, make_store, knn_pipeline, raw_records):
    core = InferenceCore(
        make_settings(), store=make_store({2: knn_pipeline}, {"champion": 2})
    )  # no background
    core.refresh()
    with TestClient(create_app(core.settings, core)) as client:
        answer = client.post(INFER, json=body_of(raw_records[:1], parameters={"explain": True}))
        assert answer.status_code == 409 and "cannot explain" in answer.json()["error"]
        assert client.post(INFER, json=body_of(raw_records[:1])).status_code == 200


# gRPC, through tritonclient ----------------------------------------------------------------------------


def triton_inputs(records: list[dict]) -> list[triton_grpc.InferInput]:
    """Inputs as a tritonclient user builds them from numpy columns: NaN for a missing number."""
    inputs = []
    for name in FEATURES:
        column = [r[name] for r in records]
        if BY_NAME[name].kind == "category":
            array, datatype = np.array(column, dtype=object), "BYTES"
        elif BY_NAME[name].kind == "integer":
            array, datatype = np.array(column, dtype=np.int64), "INT64"
        else:
            array, datatype = (
                np.array([math.nan if v is None else v for v in column], dtype=np.float64),
                "FP64",
            )
        tensor = triton_grpc.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def test_grpc_health_and_metadata_through_tritonclient(triton):
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready(NAME) and triton.is_model_ready(NAME, "knn")
    assert triton.is_model_ready(NAME, "2")  # version 2, served as knn
    metadata = triton.get_model_metadata(NAME)
    assert [i.name for i in metadata.inputs] == list(FEATURES) and metadata.platform == "family-1"
    assert triton.get_server_metadata().name == "burnout-risk-api"


def test_grpc_infer_matches_the_model_through_tritonclient(triton, core, raw_records):
    result = triton.infer(NAME, triton_inputs(raw_records), request_id="r-1")
    labels, probabilities = expected(core, raw_records)
    assert [c.decode() for c in result.as_numpy("class")] == labels
    assert result.as_numpy("probabilities").tolist() == probabilities.tolist()
    response = result.get_response()
    assert response.model_version == "1" and response.id == "r-1"
    knn = triton.infer(NAME, triton_inputs(raw_records[:4]), model_version="2")
    assert knn.as_numpy("probabilities").tolist() == expected(core, raw_records[:4], "knn")[1].tolist()


def test_grpc_errors_carry_status_codes(triton, raw_records):
    with pytest.raises(InferenceServerException) as missing:
        triton.infer(NAME, triton_inputs(raw_records)[:-1])
    assert missing.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "'Recognition Frequency': is required" in missing.value.message()
    with pytest.raises(InferenceServerException) as unknown:
        triton.infer("other", triton_inputs(raw_records[:1]))
    assert unknown.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as unimplemented:
        triton.get_model_repository_index()
    assert unimplemented.value.status() == "StatusCode.UNIMPLEMENTED"


def test_grpc_takes_typed_contents_and_refuses_malformed_messages(core, raw_records):
    server, port = start_grpc_server(core, "127.0.0.1", 0)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = v2_grpc.GRPCInferenceServiceStub(channel)
            record = dict(raw_records[0], **{"Mental Fatigue Score": None})
            request = v2.ModelInferRequest(model_name=NAME)
            for spec in INPUTS:
                tensor = request.inputs.add(name=spec.name, datatype=spec.datatype, shape=[1])
                value = record[spec.name]
                if spec.datatype == "BYTES":
                    tensor.contents.bytes_contents.append(value.encode())
                elif spec.datatype == "INT64":
                    tensor.contents.int64_contents.append(value)
                else:
                    tensor.contents.fp64_contents.append(math.nan if value is None else value)
            answer = stub.ModelInfer(request)
            probabilities = np.frombuffer(answer.raw_output_contents[1], "<f8")
            assert probabilities.tolist() == expected(core, [record])[1][0].tolist()
            call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
            with pytest.raises(grpc.RpcError) as malformed:
                call(b"\xff\xff\xff")
            assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.stop(0)
