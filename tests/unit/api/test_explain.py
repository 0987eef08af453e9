"""Explanations on every protocol (issue 14): REST `?explain=true`, GraphQL by selecting `explanation`, gRPC
`explain: true`. Each family's explanations add up (base + contributions = output) to what the model answered,
the three protocols give the same numbers, requests without explain do no extra work, and explanations are
bounded and refused clearly before any work."""

from __future__ import annotations

import math
import re

import grpc
import numpy as np
import pytest
from fastapi.testclient import TestClient

from burnout_api.core import InferenceCore, LoadedModel
from burnout_api.features import FEATURE_FIELDS
from burnout_api.grpc_api.server import start_grpc_server
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
from burnout_api.main import create_app
from etl.contract import CLASSES, FEATURES

EXPLAIN_MAX_RECORDS, EXPLAIN_MAX_RECORDS_APPROXIMATE = 6, 4
EXPLAINERS = {
    "lightgbm": {"method": "tree_shap", "exact": True, "scale": "log_odds"},
    "knn": {"method": "permutation_shap", "exact": False, "scale": "probability"},
    "svm": {"method": "permutation_shap", "exact": False, "scale": "probability"},
}
EXPLANATION = """
  explanation {
    base { Low Medium High }
    output { Low Medium High }
    contributions
    top_factors { feature value class contribution text }
  }"""
GRAPHQL_EXPLAIN = f"""
query($records: [EmployeeInput!]!, $model: String!) {{
  predict(records: $records, model: $model) {{
    request_id
    model {{ alias version family }}
    predictions {{ class probabilities {{ Low Medium High }} model_version {EXPLANATION} }}
    explainer {{ method exact scale }}
  }}
}}"""

EXPLAIN_ONLY = (
    f"query($r: [EmployeeInput!]!) {{ predict(records: $r) {{ predictions {{ {EXPLANATION} }} }} }}"
)


@pytest.fixture
def service(make_settings, make_store, lightgbm_pipeline, knn_pipeline, svm_pipeline, synthetic_background):
    """(REST and GraphQL client, gRPC stub, core) over one core: each family behind its alias (lightgbm is
    the champion), and `old`, a KNN whose run logged no background sample."""
    store = make_store(
        {1: lightgbm_pipeline, 2: knn_pipeline, 3: svm_pipeline, 4: knn_pipeline},
        {"champion": 1, "lightgbm": 1, "knn": 2, "svm": 3, "old": 4},
        backgrounds={2: synthetic_background, 3: synthetic_background},
    )
    settings = make_settings(
        explain_max_records=EXPLAIN_MAX_RECORDS,
        explain_max_records_approximate=EXPLAIN_MAX_RECORDS_APPROXIMATE,
        prediction_log_enabled=False,
    )
    core = InferenceCore(settings, store=store)
    server, port = start_grpc_server(core, "127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    with TestClient(create_app(settings, core)) as client:
        core.refresh()
        yield client, pb_grpc.BurnoutRiskStub(channel), core
    channel.close()
    server.stop(0)


@pytest.fixture
def records(raw_records) -> list[dict]:
    """Records with and without missing values (the model imputes those, the explainer explains them)."""
    incomplete = [r for r in raw_records if None in r.values()]
    complete = [r for r in raw_records if None not in r.values()]
    return complete[:2] + incomplete[: EXPLAIN_MAX_RECORDS_APPROXIMATE - 2]


def explain_rest(client: TestClient, records: list[dict], alias: str) -> dict:
    answer = client.post(
        "/predict", params={"model": alias, "explain": "true"}, json=records, headers={"X-Request-ID": alias}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def as_input(record: dict) -> dict:
    return {f.key: record[f.name] for f in FEATURE_FIELDS}


def as_message(record: dict) -> pb.Employee:
    return pb.Employee(**{f.key: record[f.name] for f in FEATURE_FIELDS if record[f.name] is not None})


def softmax(scores: np.ndarray) -> np.ndarray:
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()


def check_adds_up(payload: dict, explainer: dict) -> None:
    """base + the contributions = output, on the scale of what the model answered."""
    assert payload["explainer"] == explainer
    for prediction in payload["predictions"]:
        explanation = prediction["explanation"]
        assert list(explanation["contributions"]) == list(CLASSES)
        for name in CLASSES:
            contributions = explanation["contributions"][name]
            assert list(contributions) == list(FEATURES)
            total = explanation["base"][name] + math.fsum(contributions.values())
            assert total == pytest.approx(explanation["output"][name], abs=1e-6)
        output = np.array([explanation["output"][c] for c in CLASSES])
        answered = softmax(output) if explainer["scale"] == "log_odds" else output
        probabilities = [prediction["probabilities"][c] for c in CLASSES]
        assert np.abs(answered - probabilities).max() <= 1e-9


@pytest.mark.parametrize("family", list(EXPLAINERS))
def test_explanations_add_up_to_what_the_model_answered_on_every_protocol(service, records, family):
    client, stub, _ = service
    rest = explain_rest(client, records, family)
    check_adds_up(rest, EXPLAINERS[family])
    inputs = [as_input(r) for r in records]
    graphql = client.post(
        "/graphql",
        json={"query": GRAPHQL_EXPLAIN, "variables": {"records": inputs, "model": family}},
        headers={"X-Request-ID": family},
    )
    assert graphql.json() == {"data": {"predict": rest}}
    answer = stub.Predict(
        pb.PredictRequest(records=[as_message(r) for r in records], model=family, explain=True)
    )
    assert (answer.explainer.method, answer.explainer.exact, answer.explainer.scale) == tuple(
        EXPLAINERS[family].values()
    )
    for message, expected in zip(answer.predictions, rest["predictions"], strict=True):
        explanation, wanted = message.explanation, expected["explanation"]
        assert dict(explanation.base) == wanted["base"] and dict(explanation.output) == wanted["output"]
        assert {c: dict(explanation.contributions[c].features) for c in CLASSES} == wanted["contributions"]
        factors = [
            {
                "feature": f.feature,
                "value": getattr(f, f.WhichOneof("value")) if f.WhichOneof("value") else None,
                "class": f.class_name,
                "contribution": f.contribution,
                "text": f.text,
            }
            for f in explanation.top_factors
        ]
        assert factors == wanted["top_factors"]


def test_top_factors_are_the_largest_contributions_in_words(service, records):
    client, _, _ = service
    for prediction in explain_rest(client, records, "champion")["predictions"]:
        explanation, label = prediction["explanation"], prediction["class"]
        contributions = explanation["contributions"][label]
        largest = sorted(contributions, key=lambda f: -abs(contributions[f]))[:3]
        factors = explanation["top_factors"]
        assert [f["feature"] for f in factors] == largest
        for factor in factors:
            assert factor["class"] == label and factor["contribution"] == contributions[factor["feature"]]
            shown = "missing" if factor["value"] is None else str(factor["value"])
            verb = "raises" if factor["contribution"] >= 0 else "lowers"
            # e.g. "Mental Fatigue Score = 7.8 raises the log-odds of High by 0.21"
            assert factor["text"].startswith(f"{factor['feature']} = {shown}")
            assert re.search(rf" {verb} .*{label}.* by {abs(factor['contribution']):.2f}$", factor["text"])


def test_without_explain_the_answer_and_the_work_are_unchanged(service, records, monkeypatch):
    client, stub, core = service
    plain = client.post("/predict", json=records)
    model = core.snapshot.models["champion"]
    monkeypatch.setattr(model.explainer, "explain", lambda *_: pytest.fail("explained without being asked"))
    plain_again = client.post("/predict?explain=false", json=records, headers={"X-Request-ID": "again"})
    assert plain_again.json() == {**plain.json(), "request_id": "again"}
    assert b"explanation" not in plain.content and b"explainer" not in plain.content
    answer = stub.Predict(pb.PredictRequest(records=[as_message(r) for r in records]))
    assert not answer.HasField("explainer") and not answer.predictions[0].HasField("explanation")
    query = (
        "query($r: [EmployeeInput!]!) { predict(records: $r) { predictions { class } explainer { method } } }"
    )
    graphql = client.post(
        "/graphql", json={"query": query, "variables": {"r": [as_input(r) for r in records]}}
    )
    assert graphql.json()["data"]["predict"]["explainer"] is None


def test_graphql_explains_only_what_the_query_would_execute(service, records):
    """Through fragments, and not when @skip or @include leave `explanation` out."""
    client, _, _ = service
    query = """
    query($r: [EmployeeInput!]!, $why: Boolean!) {
      predict(records: $r) { predictions { ...Answer } explainer { method } }
    }
    fragment Answer on Prediction { class explanation @include(if: $why) { output { High } } }"""
    inputs = [as_input(r) for r in records]
    for why in (True, False):
        data = client.post("/graphql", json={"query": query, "variables": {"r": inputs, "why": why}}).json()
        assert (data["data"]["predict"]["explainer"] is not None) is why
        assert all(("explanation" in p) is why for p in data["data"]["predict"]["predictions"])


@pytest.mark.parametrize(
    ("alias", "limit", "setting"),
    [
        ("champion", EXPLAIN_MAX_RECORDS, "BURNOUT_EXPLAIN_MAX_RECORDS"),
        ("svm", EXPLAIN_MAX_RECORDS_APPROXIMATE, "BURNOUT_EXPLAIN_MAX_RECORDS_APPROXIMATE"),
    ],
)
def test_explain_over_its_limit_is_refused_before_any_work(
    service, raw_records, monkeypatch, alias, limit, setting
):
    client, stub, _ = service
    monkeypatch.setattr(LoadedModel, "predict", lambda *_: pytest.fail("scored a refused request"))
    too_many = raw_records[: limit + 1]
    answer = client.post(f"/predict?model={alias}&explain=true", json=too_many)
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert (error["field"], error["type"]) == ("explain", "batch_too_large")
    assert f"limited to {limit} records per request ({setting})" in error["msg"]
    query = EXPLAIN_ONLY.replace("records: $r", f'records: $r, model: "{alias}"')
    graphql = client.post(
        "/graphql", json={"query": query, "variables": {"r": [as_input(r) for r in too_many]}}
    )
    [error] = graphql.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert error["extensions"]["errors"][0]["field"] == "explain"
    with pytest.raises(grpc.RpcError) as refused:
        stub.Predict(pb.PredictRequest(records=[as_message(r) for r in too_many], model=alias, explain=True))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and setting in refused.value.details()
    monkeypatch.undo()
    assert client.post(f"/predict?model={alias}&explain=true", json=too_many[:limit]).status_code != 422


def test_the_explain_limits_are_documented(service):
    client, _, _ = service
    operation = client.get("/openapi.json").json()["paths"]["/predict"]["post"]
    documented = next(p for p in operation["parameters"] if p["name"] == "explain")["description"]
    assert f"at most {EXPLAIN_MAX_RECORDS} records per request with TreeSHAP" in documented
    assert f"{EXPLAIN_MAX_RECORDS_APPROXIMATE} with permutation SHAP" in documented
    assert set(operation["responses"]) >= {"409", "422"}


def test_a_model_without_an_explainer_refuses_explain_and_still_predicts(service, records):
    client, stub, _ = service
    answer = client.post("/predict?model=old&explain=true", json=records)
    assert answer.status_code == 409
    [error] = answer.json()["detail"]
    assert (error["field"], error["type"]) == ("explain", "explanation_unavailable")
    assert "version 4" in error["msg"] and "retrain" in error["msg"]
    assert client.post("/predict?model=old", json=records).status_code == 200
    query = EXPLAIN_ONLY.replace("records: $r", 'records: $r, model: "old"')
    graphql = client.post(
        "/graphql", json={"query": query, "variables": {"r": [as_input(r) for r in records]}}
    )
    assert graphql.json()["errors"][0]["extensions"]["code"] == "FAILED_PRECONDITION"
    with pytest.raises(grpc.RpcError) as refused:
        stub.Predict(pb.PredictRequest(records=[as_message(r) for r in records], model="old", explain=True))
    assert (
        refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "retrain" in refused.value.details()
    )
    assert (
        len(stub.Predict(pb.PredictRequest(records=[as_message(records[0])], model="old")).predictions) == 1
    )
    explainers = {"champion": EXPLAINERS["lightgbm"], **EXPLAINERS, "old": None}
    assert {m["alias"]: m["explainer"] for m in client.get("/models").json()["models"]} == explainers
    query = "{ models { alias explainer { method exact scale } links { run } } }"
    models = client.post("/graphql", json={"query": query}).json()["data"]["models"]
    assert {m["alias"]: m["explainer"] for m in models} == explainers
    assert all(m["links"] is None for m in models)  # no MLflow UI to link to (see test_model_links)
    listed = {m.alias: m for m in stub.ListModels(pb.ListModelsRequest()).models}
    assert listed["svm"].explainer.method == "permutation_shap" and not listed["old"].HasField("explainer")


def test_explain_takes_a_boolean(service, records):
    client, _, _ = service
    answer = client.post("/predict?explain=maybe", json=records)
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "explain"
    assert "explainer" in client.post("/predict?explain=1", json=records).json()


def test_explained_answers_are_logged_like_plain_ones(make_core, make_store, lightgbm_pipeline, records):
    """The prediction log keeps its columns: records, classes, probabilities and who asked, no explanation."""
    from datetime import date

    from etl.lake import LocalLake
    from monitoring.prediction_log import SCHEMA, read_predictions

    core = make_core(make_store({1: lightgbm_pipeline}, {"champion": 1}), prediction_log_flush_s=60)
    core.start()
    core.refresh()
    core.predict(records, request_id="plain")
    core.predict(records, request_id="explained", explain=True)
    core.stop()
    settings = core.settings
    rows = read_predictions(LocalLake(settings.lake_root), settings.predictions_bucket, date.min, date.max)
    assert set(rows.columns) == set(SCHEMA.names)
    plain, explained = (
        rows[rows["request_id"] == r].drop(columns=["request_id", "logged_at"])
        for r in ("plain", "explained")
    )
    assert len(plain) == len(records) and explained.reset_index(drop=True).equals(
        plain.reset_index(drop=True)
    )
