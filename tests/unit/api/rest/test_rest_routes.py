"""The REST adapter: routes, status codes and bodies, over a core whose registry is in memory."""

from __future__ import annotations

import json
import math

import pytest
from fastapi.testclient import TestClient

from burnout_api.main import create_app
from burnout_api.schemas import EXAMPLE_RECORD
from etl.contract import CLASSES


@pytest.fixture
def store(make_store, lightgbm_pipeline, knn_pipeline):
    return make_store({1: lightgbm_pipeline, 2: knn_pipeline}, {"champion": 1, "knn": 2})


@pytest.fixture
def client_for(make_settings):
    clients = []

    def build(store, **overrides) -> TestClient:
        from burnout_api.core import InferenceCore

        settings = make_settings(**overrides)
        client = TestClient(create_app(settings, InferenceCore(settings, store=store)))
        client.__enter__()
        client.app.state.core.refresh()  # the poller's first refresh, without waiting for it
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_for, store) -> TestClient:
    return client_for(store)


def test_health_and_ready_answer_when_a_champion_is_loaded(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["champion_version"] == 1


def test_ready_is_503_and_predict_says_to_run_the_pipeline_without_a_model(client_for, make_store, store):
    client = client_for(make_store(store.pipelines))
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json()["state"] == "no_model"
    answer = client.post("/predict", json=[EXAMPLE_RECORD])
    assert answer.status_code == 503 and "burnout_pipeline" in answer.json()["message"]


def test_predict_answers_class_probabilities_and_version_per_record(client, lightgbm_pipeline):
    incomplete = {k: v for k, v in EXAMPLE_RECORD.items() if k != "Mental Fatigue Score"}
    answer = client.post("/predict", json=[EXAMPLE_RECORD, incomplete])
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["model"] == {"alias": "champion", "version": 1, "family": "family-1"}
    assert [p["model_version"] for p in body["predictions"]] == [1, 1]
    for prediction in body["predictions"]:
        assert list(prediction["probabilities"]) == list(CLASSES)
        assert prediction["class"] == max(prediction["probabilities"], key=prediction["probabilities"].get)
    assert client.post("/predict?model=knn", json=[EXAMPLE_RECORD]).json()["model"]["version"] == 2


def test_the_swagger_examples_are_accepted(client):
    operation = client.get("/openapi.json").json()["paths"]["/predict"]["post"]
    for example in operation["requestBody"]["content"]["application/json"]["examples"].values():
        assert client.post("/predict", json=example["value"]).status_code == 200
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("body", "record", "field", "kind"),
    [
        ([EXAMPLE_RECORD, {**EXAMPLE_RECORD, "Shoe Size": 1}], 1, "Shoe Size", "unknown_column"),
        ([{**EXAMPLE_RECORD, "Team Size": "ten"}], 0, "Team Size", "wrong_type"),
        ([{**EXAMPLE_RECORD, "Team Size": 0}], 0, "Team Size", "out_of_range"),
        ([{**EXAMPLE_RECORD, "Gender": "Robot"}], 0, "Gender", "unknown_category"),
        (json.dumps([{**EXAMPLE_RECORD, "Sleep Hours": math.nan}]), 0, "Sleep Hours", "not_finite"),
        ([], None, None, "empty_batch"),
        ([EXAMPLE_RECORD] * 4, None, None, "batch_too_large"),
    ],
)
def test_bad_input_is_422_naming_record_and_field(client_for, store, body, record, field, kind):
    client = client_for(store, max_batch=3)
    content = body if isinstance(body, str) else json.dumps(body)
    answer = client.post("/predict", content=content, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    first = answer.json()["detail"][0]
    assert (first["record"], first["field"], first["type"]) == (record, field, kind)
    if field is not None:
        assert f"record {record}, field {field!r}" in answer.json()["message"]


@pytest.mark.parametrize("body", [b"[{", b'[{"Gender": "\xff"}]', b"[" * 5000, b"\xef\xbb\xbf[]"])
def test_a_body_that_is_not_json_is_400(client, body):
    answer = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["detail"][0]["type"] == "invalid_json"
    assert answer.json()["message"].startswith("the body is not valid JSON")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_415(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    answer = client.post("/predict", content=json.dumps([EXAMPLE_RECORD]), headers=headers)
    assert answer.status_code == 415 and "application/json" in answer.json()["message"]


def test_framework_refusals_come_in_the_same_envelope(client):
    for answer, status in ((client.get("/nowhere"), 404), (client.get("/predict"), 405)):
        assert answer.status_code == status and set(answer.json()) == {"message", "detail"}


def test_an_alias_mlflow_could_not_have_is_422_and_empty_means_champion(client):
    answer = client.post("/predict?model=" + "x" * 5000, json=[EXAMPLE_RECORD])
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "model"
    assert len(answer.text) < 500
    assert client.post("/predict?model=", json=[EXAMPLE_RECORD]).json()["model"]["alias"] == "champion"


def test_an_unknown_alias_is_404(client):
    for answer in (client.post("/predict?model=nope", json=[EXAMPLE_RECORD]), client.get("/models/nope")):
        assert answer.status_code == 404 and "no alias 'nope'" in answer.json()["message"]


def test_models_list_aliases_with_metadata(client):
    listing = client.get("/models").json()
    assert listing["registered_model"] == "burnout-risk"
    assert [(m["alias"], m["version"], m["loaded"]) for m in listing["models"]] == [
        ("champion", 1, True),
        ("knn", 2, True),
    ]
    knn = client.get("/models/knn").json()
    assert knn["family"] == "family-2" and knn["test_metrics"] == {"macro_f1": 0.52} and knn["fast_path"]


def test_reload_picks_up_a_moved_alias_now(client_for, store):
    client = client_for(store, reload_token="s3cret")
    store.aliases["champion"] = 2
    answer = client.post("/reload", headers={"Authorization": "Bearer s3cret"})
    assert answer.status_code == 200 and answer.json()["readiness"]["champion_version"] == 2
    assert client.post("/predict", json=[EXAMPLE_RECORD]).json()["model"]["version"] == 2


def test_reload_is_forbidden_when_the_service_has_no_token(client):
    assert client.post("/reload").status_code == 403


def test_reload_needs_the_token_when_one_is_set(client_for, store):
    client = client_for(store, reload_token="s3cret")
    assert client.post("/reload").status_code == 401
    assert client.post("/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/reload", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_reload_is_503_when_mlflow_is_unreachable_but_predictions_go_on(client_for, store):
    client = client_for(store, reload_token="s3cret")
    store.reachable = False
    answer = client.post("/reload", headers={"Authorization": "Bearer s3cret"})
    assert answer.status_code == 503 and "MLflow unreachable" in answer.json()["message"]
    assert client.post("/predict", json=[EXAMPLE_RECORD]).status_code == 200
    assert client.get("/ready").json()["mlflow"] == "unreachable"


def test_metrics_count_rest_requests(client):
    client.post("/predict", json=[EXAMPLE_RECORD])
    text = client.get("/metrics").text
    assert 'burnout_predict_requests_total{alias="champion",protocol="rest",version="1"} 1.0' in text
