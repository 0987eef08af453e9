"""POST /predict_stream against the real Redis: valid records land on the requests stream, one entry per
record, and the answer lists their ids; invalid ones are refused with nothing queued; no Redis is a 503."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from burnout_api.main import create_app
from burnout_api.schemas import EXAMPLE_RECORD
from burnout_dev.processes import free_port
from tests.integration.stream_support import cleaned, redis_client, stream_settings
from tests.unit.api.conftest import FakeStore


@pytest.fixture
def redis_db():
    return redis_client()


@pytest.fixture
def stream_env(settings, redis_db):
    yield from cleaned(redis_db, stream_settings(settings))


def client_of(settings) -> TestClient:
    from burnout_api.core import InferenceCore

    # No model: enqueueing does not need one (the workers wait for the champion).
    return TestClient(create_app(settings, InferenceCore(settings, store=FakeStore())))


def test_predict_stream_queues_each_record_and_answers_their_ids(stream_env, redis_db):
    records = [EXAMPLE_RECORD, {**EXAMPLE_RECORD, "Gender": "Male", "Mental Fatigue Score": None}]

    with client_of(stream_env) as client:
        answer = client.post("/predict_stream", json=records)

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["stream"] == stream_env.stream_requests
    assert body["results_stream"] == stream_env.stream_results
    entries = redis_db.xrange(stream_env.stream_requests)
    assert [entry_id for entry_id, _ in entries] == body["ids"]
    assert [json.loads(fields["record"]) for _, fields in entries] == records


def test_predict_stream_refuses_invalid_records_and_queues_none(stream_env, redis_db):
    records = [EXAMPLE_RECORD, {**EXAMPLE_RECORD, "Gender": "Robot"}]

    with client_of(stream_env) as client:
        answer = client.post("/predict_stream", json=records)
        json_type = {"content-type": "application/json"}
        malformed = client.post("/predict_stream", content=b"[{", headers=json_type)

    assert answer.status_code == 422
    assert [(e["record"], e["field"]) for e in answer.json()["detail"]] == [(1, "Gender")]
    assert malformed.status_code == 400
    assert redis_db.xlen(stream_env.stream_requests) == 0


def test_predict_stream_is_503_with_a_clear_message_without_redis(settings):
    port = free_port()  # nothing listens there
    with client_of(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})) as client:
        unreachable = client.post("/predict_stream", json=[EXAMPLE_RECORD])
    with client_of(settings.model_copy(update={"redis_url": None})) as client:
        unset = client.post("/predict_stream", json=[EXAMPLE_RECORD])

    assert unreachable.status_code == 503
    assert f"127.0.0.1:{port}" in unreachable.json()["message"]
    assert unset.status_code == 503 and "BURNOUT_REDIS_URL" in unset.json()["message"]


def test_predict_stream_keeps_the_redis_password_out_of_its_answers(settings):
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with client_of(settings.model_copy(update={"redis_url": url})) as client:
        answer = client.post("/predict_stream", json=[EXAMPLE_RECORD])

    assert answer.status_code == 503 and "hunter2" not in answer.text


@pytest.fixture
def grpc_stub_for():
    """grpc_stub_for(settings): a BurnoutRisk stub on a gRPC server over a core without a model."""
    import grpc

    from burnout_api.core import InferenceCore
    from burnout_api.grpc_api.server import start_grpc_server
    from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc

    opened = []

    def build(settings):
        server, port = start_grpc_server(InferenceCore(settings, store=FakeStore()), "127.0.0.1", 0)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        opened.append((server, channel))
        return pb_grpc.BurnoutRiskStub(channel)

    yield build
    for server, channel in opened:
        channel.close()
        server.stop(0)


def as_message(record: dict):
    from burnout_api.features import FEATURE_FIELDS
    from burnout_api.grpc_gen import burnout_pb2 as pb

    return pb.Employee(**{f.key: record[f.name] for f in FEATURE_FIELDS if record.get(f.name) is not None})


def test_grpc_enqueue_queues_each_record_like_the_rest_route(stream_env, redis_db, grpc_stub_for):
    from burnout_api.grpc_gen import burnout_pb2 as pb

    records = [EXAMPLE_RECORD, {**EXAMPLE_RECORD, "Gender": "Male"}]
    response = grpc_stub_for(stream_env).Enqueue(pb.EnqueueRequest(records=[as_message(r) for r in records]))

    entries = redis_db.xrange(stream_env.stream_requests)
    assert list(response.ids) == [entry_id for entry_id, _ in entries]
    assert [json.loads(fields["record"]) for _, fields in entries] == records
    assert response.results_stream == stream_env.stream_results


def test_grpc_enqueue_refuses_invalid_records_and_answers_unavailable_without_redis(
    stream_env, redis_db, grpc_stub_for
):
    import grpc

    from burnout_api.grpc_gen import burnout_pb2 as pb

    robot = pb.EnqueueRequest(records=[as_message({**EXAMPLE_RECORD, "Gender": "Robot"})])
    with pytest.raises(grpc.RpcError) as invalid:
        grpc_stub_for(stream_env).Enqueue(robot)
    no_redis = stream_env.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with pytest.raises(grpc.RpcError) as unavailable:
        grpc_stub_for(no_redis).Enqueue(pb.EnqueueRequest(records=[as_message(EXAMPLE_RECORD)]))

    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'Gender'" in invalid.value.details()
    assert redis_db.xlen(stream_env.stream_requests) == 0
    assert unavailable.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "record stream is unavailable" in unavailable.value.details()
