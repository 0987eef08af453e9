"""The OpenAPI document teaches: every input described, the risk classes defined, and examples that are
real answers, valid against the schemas they illustrate."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from burnout_api import examples
from burnout_api.core import InferenceCore
from burnout_api.main import create_app
from burnout_api.schemas import EmployeeRecord, ErrorResponse, PredictResponse, Readiness
from etl.contract import CLASSES, FEATURES


@pytest.fixture(scope="module")
def openapi(tmp_path_factory) -> dict:
    from burnout_base.settings import Settings

    settings = Settings(_env_file=None, home=tmp_path_factory.mktemp("home"))
    # Without the lifespan: the document needs no model, nor the core's poller.
    return TestClient(create_app(settings, InferenceCore(settings))).get("/openapi.json").json()


def predict_operation(openapi: dict) -> dict:
    return openapi["paths"]["/predict"]["post"]


def test_every_input_has_a_description_with_its_range(openapi):
    body = predict_operation(openapi)["requestBody"]["content"]["application/json"]["schema"]
    properties = body["items"]["properties"]
    assert sorted(properties) == sorted([*FEATURES, "Employee ID"])
    undescribed = [name for name, field in properties.items() if len(field.get("description", "")) < 40]
    assert undescribed == []
    scales = [name for name in FEATURES if name.endswith("Score") and "Fatigue" not in name]
    assert scales and all("Higher is" in properties[name]["description"] for name in scales)


def test_the_risk_classes_are_defined_in_the_api_and_the_response(openapi):
    answer = predict_operation(openapi)["responses"]["200"]["description"]
    prediction = openapi["components"]["schemas"]["Prediction"]["properties"]["class"]["description"]
    for text in (openapi["info"]["description"], answer, prediction):
        assert all(name in text for name in CLASSES)
        assert "below 0.33" in text and "0.66" in text


def test_request_examples_are_valid_records_one_with_a_missing_value(openapi):
    body = predict_operation(openapi)["requestBody"]["content"]["application/json"]
    records = [record for example in body["examples"].values() for record in example["value"]]
    assert [EmployeeRecord.model_validate(record) for record in records]
    # FastAPI's document leaves nulls out: the missing value shows as a column left out, which is valid too.
    assert examples.COMPLETE_RECORD in records
    incomplete = {
        name: value for name, value in examples.RECORD_WITH_MISSING_VALUE.items() if value is not None
    }
    assert incomplete in records and len(incomplete) < len(FEATURES)


def test_response_examples_are_real_answers_valid_against_their_schema(openapi):
    responses = predict_operation(openapi)["responses"]
    for status, response in responses.items():
        shown = response["content"]["application/json"].get("examples", {}).values()
        model = PredictResponse if status == "200" else ErrorResponse
        for example in shown:
            TypeAdapter(model).validate_python(example["value"])
    answers = [e["value"] for e in responses["200"]["content"]["application/json"]["examples"].values()]
    assert answers, "no example answer"
    probabilities = [p["probabilities"] for a in answers for p in a["predictions"]]
    assert all(abs(sum(p.values()) - 1) < 1e-6 and max(p.values()) < 1 for p in probabilities)
    assert {"422", "404", "503"} <= {
        s for s, r in responses.items() if r["content"]["application/json"].get("examples")
    }


def test_graphql_is_not_in_the_rest_schema(openapi):
    assert [path for path in openapi["paths"] if path.startswith("/graphql")] == []


def test_schema_examples_are_valid_against_their_own_schema(openapi):
    """Examples at the model level (shown where Swagger and ReDoc render the schema)."""
    schemas = openapi["components"]["schemas"]
    models = {"PredictResponse": PredictResponse, "ErrorResponse": ErrorResponse, "Readiness": Readiness}
    for name, model in models.items():
        assert schemas[name]["examples"], name
        for example in schemas[name]["examples"]:
            model.model_validate(example)
