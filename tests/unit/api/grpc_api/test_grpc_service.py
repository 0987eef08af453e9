"""The gRPC adapter: Predict, PredictStream, ListModels, the health service and reflection, with core errors
as status codes (INVALID_ARGUMENT naming record and field, NOT_FOUND, UNAVAILABLE)."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from burnout_api.core import InferenceCore
from burnout_api.features import FEATURE_FIELDS
from burnout_api.grpc_api.server import SERVICE_NAME, start_grpc_server
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
from burnout_api.schemas import EXAMPLE_RECORD
from etl.contract import CLASSES


def as_message(record: dict) -> pb.Employee:
    return pb.Employee(**{f.key: record[f.name] for f in FEATURE_FIELDS if f.name in record})


@pytest.fixture
def served(make_settings, make_store, lightgbm_pipeline, knn_pipeline):
    """(core, store, channel) with a gRPC server on a free port."""
    store = make_store({1: lightgbm_pipeline, 2: knn_pipeline}, {"champion": 1, "knn": 2})
    core = InferenceCore(make_settings(), store=store)
    core.refresh()
    server, port = start_grpc_server(core, "127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield core, store, channel
    channel.close()
    server.stop(0)


def test_predict_answers_what_the_core_answers(served):
    core, _, channel = served
    incomplete = {k: v for k, v in EXAMPLE_RECORD.items() if k != "Mental Fatigue Score"}
    response = pb_grpc.BurnoutRiskStub(channel).Predict(
        pb.PredictRequest(records=[as_message(EXAMPLE_RECORD), as_message(incomplete)])
    )
    expected = core.predict([EXAMPLE_RECORD, incomplete])
    assert (response.model.alias, response.model.version, response.model.family) == (
        "champion",
        1,
        "family-1",
    )
    assert [p.class_name for p in response.predictions] == expected.labels
    for prediction, row in zip(response.predictions, expected.probabilities.tolist(), strict=True):
        assert [prediction.probabilities[c] for c in CLASSES] == row and prediction.model_version == 1


def test_predict_stream_answers_each_request_in_order(served):
    _, _, channel = served
    requests = [
        pb.PredictRequest(records=[as_message(EXAMPLE_RECORD)], model=alias)
        for alias in ("champion", "knn", "champion")
    ]
    responses = list(pb_grpc.BurnoutRiskStub(channel).PredictStream(iter(requests)))
    assert [r.model.version for r in responses] == [1, 2, 1]


def test_list_models(served):
    _, _, channel = served
    response = pb_grpc.BurnoutRiskStub(channel).ListModels(pb.ListModelsRequest())
    assert response.registered_model == "burnout-risk"
    assert [(m.alias, m.version, m.loaded, m.family) for m in response.models] == [
        ("champion", 1, True, "family-1"),
        ("knn", 2, True, "family-2"),
    ]
    assert response.models[0].test_metrics["macro_f1"] == pytest.approx(0.51)


@pytest.mark.parametrize(
    ("records", "model", "code", "text"),
    [
        (
            [{**EXAMPLE_RECORD, "Team Size": 0}],
            "",
            grpc.StatusCode.INVALID_ARGUMENT,
            "record 0, field 'Team Size'",
        ),
        (
            [EXAMPLE_RECORD, {**EXAMPLE_RECORD, "Gender": "Robot"}],
            "",
            grpc.StatusCode.INVALID_ARGUMENT,
            "record 1, field 'Gender'",
        ),
        (
            [{k: v for k, v in EXAMPLE_RECORD.items() if k != "Team Size"}],
            "",
            grpc.StatusCode.INVALID_ARGUMENT,
            "record 0, field 'Team Size': is required",
        ),
        (
            [{**EXAMPLE_RECORD, "Sleep Hours": float("nan")}],
            "",
            grpc.StatusCode.INVALID_ARGUMENT,
            "field 'Sleep Hours': must be a finite number",
        ),
        ([], "", grpc.StatusCode.INVALID_ARGUMENT, "the batch is empty"),
        ([EXAMPLE_RECORD], "nope", grpc.StatusCode.NOT_FOUND, "no alias 'nope'"),
    ],
)
def test_errors_map_to_status_codes(served, records, model, code, text):
    _, _, channel = served
    with pytest.raises(grpc.RpcError) as caught:
        pb_grpc.BurnoutRiskStub(channel).Predict(
            pb.PredictRequest(records=[as_message(r) for r in records], model=model)
        )
    assert caught.value.code() == code and text in caught.value.details()


def test_a_bad_stream_message_ends_the_stream_with_its_index(served):
    _, _, channel = served
    requests = [pb.PredictRequest(records=[as_message(EXAMPLE_RECORD)]), pb.PredictRequest()]
    answers = pb_grpc.BurnoutRiskStub(channel).PredictStream(iter(requests))
    assert next(answers).model.version == 1
    with pytest.raises(grpc.RpcError) as caught:
        next(answers)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("stream message 1: ")


def test_health_follows_readiness(served):
    core, store, channel = served
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE_NAME):
        status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    del store.aliases["champion"]
    core.refresh()
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.NOT_SERVING
    with pytest.raises(grpc.RpcError) as caught:
        pb_grpc.BurnoutRiskStub(channel).Predict(pb.PredictRequest(records=[as_message(EXAMPLE_RECORD)]))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE and "burnout_pipeline" in caught.value.details()


def test_health_watch_streams_the_status_then_its_change(served):
    core, store, channel = served
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    del store.aliases["champion"]
    core.refresh()
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    watch.cancel()


def test_reflection_lists_the_services(served):
    _, _, channel = served
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    answer = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in answer.list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


def test_the_employee_message_mirrors_the_contract():
    fields = {f.name: f for f in pb.Employee.DESCRIPTOR.fields}
    assert list(fields) == [*(f.key for f in FEATURE_FIELDS), "employee_id"]  # the id: not a model input
    assert fields["employee_id"].type == 9 and fields["employee_id"].has_presence
    kinds = {"category": "string", "integer": "int64", "float": "double"}
    proto_kinds = {9: "string", 3: "int64", 1: "double"}  # FieldDescriptor.TYPE_*
    for feature in FEATURE_FIELDS:
        field = fields[feature.key]
        assert proto_kinds[field.type] == kinds[feature.column.kind], feature.name
        assert field.has_presence, f"{feature.key} must be optional so that missing is not 0"


@pytest.fixture
def small_limits(make_settings, make_store, lightgbm_pipeline):
    """A server with a 3-record batch limit and a 2 KiB message cap."""
    core = InferenceCore(
        make_settings(max_batch=3, max_body_bytes=2048),
        store=make_store({1: lightgbm_pipeline}, {"champion": 1}),
    )
    core.refresh()
    server, port = start_grpc_server(core, "127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield channel
    channel.close()
    server.stop(0)


def test_batch_limit_is_checked_before_any_record_is_converted(small_limits, monkeypatch):
    from burnout_api.grpc_api import servicer

    def never(_):
        raise AssertionError("a record was converted before the batch limit was checked")

    monkeypatch.setattr(servicer, "as_record", never)
    stub = pb_grpc.BurnoutRiskStub(small_limits)
    with pytest.raises(grpc.RpcError) as refused:
        stub.Predict(pb.PredictRequest(records=[as_message(EXAMPLE_RECORD)] * 4))

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "the maximum is 3" in refused.value.details()


def test_message_over_the_body_cap_is_refused_by_grpc(small_limits):
    stub = pb_grpc.BurnoutRiskStub(small_limits)
    big = pb.PredictRequest(records=[as_message(EXAMPLE_RECORD)] * 3, model="x" * 4096)

    with pytest.raises(grpc.RpcError) as refused:
        stub.Predict(big)

    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(stub.Predict(pb.PredictRequest(records=[as_message(EXAMPLE_RECORD)])).predictions) == 1
