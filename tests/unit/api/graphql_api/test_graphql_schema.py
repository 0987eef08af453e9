"""The GraphQL adapter: the same records and answers as REST, core errors as coded GraphQL errors."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from burnout_api.core import InferenceCore
from burnout_api.features import FEATURE_FIELDS
from burnout_api.main import create_app
from burnout_api.schemas import EXAMPLE_RECORD

PREDICT = """
query Predict($records: [EmployeeInput!]!, $model: String! = "champion") {
  predict(records: $records, model: $model) {
    request_id
    model { alias version family }
    predictions { class probabilities { Low Medium High } model_version }
  }
}"""


def as_input(record: dict) -> dict:
    return {f.key: record[f.name] for f in FEATURE_FIELDS if f.name in record}


@pytest.fixture
def client(client_with):
    with client_with() as client:
        yield client


@pytest.fixture
def client_with(make_settings, make_store, lightgbm_pipeline, knn_pipeline):
    """A client over a service built with these settings."""

    @contextmanager
    def build(**overrides):
        store = make_store({1: lightgbm_pipeline, 2: knn_pipeline}, {"champion": 1, "knn": 2})
        settings = make_settings(**overrides)
        with TestClient(create_app(settings, InferenceCore(settings, store=store))) as client:
            client.app.state.core.refresh()
            yield client

    return build


def graphql(client: TestClient, query: str, headers: dict | None = None, **variables) -> dict:
    answer = client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert answer.status_code == 200
    return answer.json()


def test_predict_answers_what_rest_answers(client):
    incomplete = {k: v for k, v in EXAMPLE_RECORD.items() if k != "Resource Allocation"}
    records = [EXAMPLE_RECORD, incomplete]
    for alias in ("champion", "knn"):
        headers = {"X-Request-ID": f"same-{alias}"}
        rest = client.post(f"/predict?model={alias}", json=records, headers=headers).json()
        answer = graphql(client, PREDICT, headers, records=[as_input(r) for r in records], model=alias)
        assert answer["data"]["predict"] == rest and rest["request_id"] == f"same-{alias}"


def test_health_models_and_model(client):
    query = (
        "{ health { status ready state mlflow champion_version } models { alias version loaded } "
        'model(alias: "knn") { alias version family run_id dataset_version test_metrics fast_path } }'
    )
    data = graphql(client, query)["data"]
    assert data["health"] == {
        "status": "ok",
        "ready": True,
        "state": "ready",
        "mlflow": "reachable",
        "champion_version": 1,
    }
    assert data["models"] == [
        {"alias": "champion", "version": 1, "loaded": True},
        {"alias": "knn", "version": 2, "loaded": True},
    ]
    assert data["model"] == {
        "alias": "knn",
        "version": 2,
        "family": "family-2",
        "run_id": "run-2",
        "dataset_version": "ds-1",
        "test_metrics": {"macro_f1": 0.52},
        "fast_path": True,
    }


@pytest.mark.parametrize(
    ("records", "code", "text"),
    [
        ([{**EXAMPLE_RECORD, "Team Size": 0}], "INVALID_ARGUMENT", "record 0, field 'Team Size'"),
        (
            [EXAMPLE_RECORD, {**EXAMPLE_RECORD, "Gender": "Robot"}],
            "INVALID_ARGUMENT",
            "record 1, field 'Gender'",
        ),
        ([], "INVALID_ARGUMENT", "the batch is empty"),
    ],
)
def test_bad_input_is_an_invalid_argument_error(client, records, code, text):
    errors = graphql(client, PREDICT, records=[as_input(r) for r in records])["errors"]
    assert errors[0]["extensions"]["code"] == code and text in errors[0]["message"]
    if records:
        assert errors[0]["extensions"]["errors"][0]["field"] in text


def test_unknown_fields_and_wrong_types_are_refused_by_graphql_itself(client):
    unknown = graphql(client, PREDICT, records=[{**as_input(EXAMPLE_RECORD), "shoe_size": 1}])["errors"][0]
    assert "shoe_size" in unknown["message"]
    wrong = graphql(client, PREDICT, records=[{**as_input(EXAMPLE_RECORD), "team_size": "ten"}])["errors"][0]
    assert "team_size" in wrong["message"] and "records[0]" in wrong["message"]
    missing = {k: v for k, v in as_input(EXAMPLE_RECORD).items() if k != "gender"}
    assert "gender" in graphql(client, PREDICT, records=[missing])["errors"][0]["message"]


def test_an_unknown_alias_is_not_found(client):
    errors = graphql(client, PREDICT, records=[as_input(EXAMPLE_RECORD)], model="nope")["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"


def test_without_a_model_predict_is_unavailable(make_settings, make_store, lightgbm_pipeline):
    settings = make_settings()
    core = InferenceCore(settings, store=make_store({1: lightgbm_pipeline}))
    with TestClient(create_app(settings, core)) as client:
        core.refresh()
        errors = graphql(client, PREDICT, records=[as_input(EXAMPLE_RECORD)])["errors"]
    assert errors[0]["extensions"]["code"] == "UNAVAILABLE" and "burnout_pipeline" in errors[0]["message"]


def first_error(answer) -> dict:
    return answer.json()["errors"][0]


@pytest.mark.parametrize(
    ("overrides", "query", "words"),
    [
        (
            {"graphql_max_depth": 2},
            "{ predict(records: []) { predictions { probabilities { Low } } } }",
            "depth",
        ),
        ({}, "{ " + " ".join(f"h{i}: health {{ status }}" for i in range(21)) + " }", "aliases"),
        ({}, "{ health { " + "status " * 6000 + "} }", "token"),
        (
            {},
            "query($r: [EmployeeInput!]!) { a: predict(records: $r) { model { version } } "
            "b: predict(records: $r) { model { version } } }",
            "one predict per request",
        ),
    ],
)
def test_documents_over_a_limit_are_refused_before_they_execute(client_with, overrides, query, words):
    with client_with(**overrides) as client:
        answer = client.post("/graphql", json={"query": query, "variables": {"r": []}})
        assert answer.status_code == 200
        assert answer.json()["data"] is None and words in first_error(answer)["message"]
        assert (
            client.app.state.core.metrics.render().count(b'burnout_predict_requests_total{protocol="graphql"')
            == 0
        )


def test_a_batch_over_the_limit_is_refused_before_any_record_is_converted(client_with):
    with client_with(max_batch=3) as client:
        records = [as_input(EXAMPLE_RECORD)] * 4
        answer = client.post("/graphql", json={"query": PREDICT, "variables": {"records": records}})
        assert answer.status_code == 200
        assert first_error(answer)["extensions"]["code"] == "INVALID_ARGUMENT"
        assert first_error(answer)["extensions"]["errors"][0]["type"] == "batch_too_large"
        assert "4 records; the maximum is 3" in first_error(answer)["message"]
        assert b'protocol="graphql"' not in client.app.state.core.metrics.render()  # nothing was scored


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"query": "{ health { status } }", "variables": {"x": "\xff"}}', "application/json", 400),
        (b'{"query": ' + b"[" * 5000, "application/json", 400),
        (b"[]", "application/json", 400),
        (b'{"query": 3}', "application/json", 400),
        (b'{"query": "{ health { status } }"}', "text/plain", 415),
        (json.dumps({"query": "{ health { status } }" + " " * 70_000}).encode(), "application/json", 413),
    ],
)
def test_malformed_requests_are_4xx_in_graphql_error_shape(client, body, content_type, status):
    answer = client.post("/graphql", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == status
    assert answer.json()["data"] is None and first_error(answer)["message"]


def test_queries_by_get_are_not_executed_graphiql_is_served(client):
    assert client.get("/graphql", params={"query": "{ health { status } }"}).status_code != 200
    assert "graphiql" in client.get("/graphql", headers={"Accept": "text/html"}).text.lower()
