"""Request bodies over BURNOUT_MAX_BODY_BYTES are refused with 413 before anything decodes them, on REST and
GraphQL, whether their size is declared or streamed; the service keeps answering good requests."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from burnout_api.core import InferenceCore
from burnout_api.main import create_app
from burnout_api.schemas import EXAMPLE_RECORD

CAP = 4096


@pytest.fixture
def client(make_settings, make_store, lightgbm_pipeline):
    settings = make_settings(max_body_bytes=CAP)
    core = InferenceCore(settings, store=make_store({1: lightgbm_pipeline}, {"champion": 1}))
    with TestClient(create_app(settings, core)) as client:
        client.app.state.core.refresh()
        yield client


def oversized_batch() -> bytes:
    return json.dumps([EXAMPLE_RECORD] * 50).encode()


def test_declared_oversized_body_is_refused_with_413(client):
    body = oversized_batch()
    assert len(body) > CAP

    answer = client.post("/predict", content=body, headers={"Content-Type": "application/json"})

    assert answer.status_code == 413
    assert "BURNOUT_MAX_BODY_BYTES" in answer.json()["message"] and answer.json()["detail"] == []
    assert client.post("/predict", json=[EXAMPLE_RECORD]).status_code == 200


def test_streamed_oversized_body_is_refused_with_413(client):
    body = oversized_batch()

    def chunks():  # no Content-Length: the cap is enforced while the body arrives
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    answer = client.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})

    assert answer.status_code == 413
    assert client.get("/health").status_code == 200


def test_oversized_graphql_document_is_refused_with_413(client):
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(400)) + " }"
    assert len(query) > CAP

    answer = client.post("/graphql", json={"query": query})

    assert answer.status_code == 413


def test_body_under_the_cap_reaches_the_route(client):
    answer = client.post("/predict", json=[{**EXAMPLE_RECORD, "Gender": "Robot"}])

    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "Gender"


def test_the_open_inference_protocol_gets_its_own_error_shape(client):
    answer = client.post(
        "/v2/models/burnout-risk/infer",
        content=oversized_batch(),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert set(answer.json()) == {"error"} and "BURNOUT_MAX_BODY_BYTES" in answer.json()["error"]
