"""gRPC Feedback stores what POST /feedback stores for the same outcomes and refuses a bad one
INVALID_ARGUMENT naming the record and field; Predict's request id comes from the `x-request-id` metadata
(else is made) and goes back in PredictResponse.request_id and the trailing metadata; Employee.employee_id
reaches the prediction log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from burnout_api.core import InferenceCore
from burnout_api.features import FEATURE_FIELDS
from burnout_api.grpc_api.server import start_grpc_server
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
from burnout_api.main import create_app
from burnout_api.schemas import EXAMPLE_RECORD
from etl.lake import lake_from_settings
from monitoring.feedback import read_feedback
from monitoring.prediction_log import read_predictions

# The same outcomes in both protocols (every window closed, so that no "now" differs between them).
OUTCOMES_JSON = [
    {"request_id": "req-1", "record_index": 2, "Burn Rate": 0.52},
    {"request_id": "req-2", "class": "Low"},
    {"request_id": "req-3", "record_index": 0, "Burn Rate": 0.0},
    {"Employee ID": "emp-7", "from": "2026-01-05", "to": "2026-01-12T08:30:00+00:00", "class": "High"},
    {
        "Employee ID": "emp-8",
        "from": "2026-01-05T00:00:00",
        "to": "2026-01-20",
        "Burn Rate": 0.1,
        "class": "Low",
    },
]
OUTCOMES_GRPC = [
    pb.Outcome(request_id="req-1", record_index=2, burn_rate=0.52),
    pb.Outcome(request_id="req-2", class_name="Low"),
    pb.Outcome(request_id="req-3", record_index=0, burn_rate=0.0),
    pb.Outcome(
        employee_id="emp-7",
        window_from="2026-01-05",
        window_to="2026-01-12T08:30:00+00:00",
        class_name="High",
    ),
    pb.Outcome(
        employee_id="emp-8",
        window_from="2026-01-05T00:00:00",
        window_to="2026-01-20",
        burn_rate=0.1,
        class_name="Low",
    ),
]


def employee(record: dict, employee_id: str | None = None) -> pb.Employee:
    message = pb.Employee(**{f.key: record[f.name] for f in FEATURE_FIELDS if f.name in record})
    if employee_id is not None:
        message.employee_id = employee_id
    return message


def days_around_today() -> tuple:
    today = datetime.now(UTC).date()
    return today - timedelta(days=1), today + timedelta(days=1)


def stored_feedback(settings) -> pd.DataFrame:
    return read_feedback(lake_from_settings(settings), settings.feedback_bucket, *days_around_today())


@pytest.fixture
def served(make_settings, make_store, lightgbm_pipeline, tmp_path):
    """(settings, core, stub): a started core (prediction log on) behind a gRPC server on a free port."""
    settings = make_settings(home=tmp_path / "grpc", prediction_log_flush_s=60.0)
    core = InferenceCore(settings, store=make_store({1: lightgbm_pipeline}, {"champion": 1}))
    core.start()
    core.refresh()
    server, port = start_grpc_server(core, "127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield settings, core, pb_grpc.BurnoutRiskStub(channel)
    channel.close()
    server.stop(0)
    core.stop()


def test_feedback_stores_the_same_rows_as_rest(
    served, make_settings, make_store, lightgbm_pipeline, tmp_path
):
    settings, _, stub = served
    answer = stub.Feedback(pb.FeedbackRequest(outcomes=OUTCOMES_GRPC))
    assert answer.accepted == len(OUTCOMES_GRPC) and answer.feedback_id
    rest_settings = make_settings(home=tmp_path / "rest")
    core = InferenceCore(rest_settings, store=make_store({1: lightgbm_pipeline}, {"champion": 1}))
    with TestClient(create_app(rest_settings, core)) as client:
        assert client.post("/feedback", json=OUTCOMES_JSON).json()["accepted"] == len(OUTCOMES_JSON)
    by_grpc, by_rest = stored_feedback(settings), stored_feedback(rest_settings)
    assert set(by_grpc["feedback_id"]) == {answer.feedback_id}
    assert len(by_grpc) == len(by_rest) == len(OUTCOMES_JSON)
    per_post = ["feedback_id", "received_at"]  # when and with which post: the rest is the outcome
    order = ["request_id", "employee_id"]
    grpc_rows = by_grpc.drop(columns=per_post).sort_values(order).reset_index(drop=True)
    rest_rows = by_rest.drop(columns=per_post).sort_values(order).reset_index(drop=True)
    pd.testing.assert_frame_equal(grpc_rows, rest_rows)
    req3 = grpc_rows[grpc_rows["request_id"] == "req-3"].iloc[0]
    assert req3["burn_rate"] == 0.0 and req3["observed_class"] == "Low"  # a rate of 0 is a rate, not unset


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        (pb.Outcome(request_id="r", burn_rate=1.5), "record 1, field 'Burn Rate'"),
        (pb.Outcome(request_id="r", class_name="Extreme"), "record 1, field 'class'"),
        (pb.Outcome(request_id="r", burn_rate=0.9, class_name="Low"), "record 1, field 'class'"),
        (pb.Outcome(employee_id="e", window_from="soon", class_name="Low"), "record 1, field 'from'"),
        (pb.Outcome(request_id="r", record_index=-1, class_name="Low"), "record 1, field 'record_index'"),
        (pb.Outcome(class_name="Low"), "record 1: name the prediction"),
    ],
)
def test_a_bad_outcome_is_invalid_argument_naming_record_and_field_and_stores_nothing(served, bad, where):
    settings, _, stub = served
    good = pb.Outcome(request_id="ok", class_name="Low")
    with pytest.raises(grpc.RpcError) as caught:
        stub.Feedback(pb.FeedbackRequest(outcomes=[good, bad, good]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert where in caught.value.details()
    assert stored_feedback(settings).empty


def test_predict_echoes_the_metadata_request_id_in_the_answer_and_the_trailer(served):
    _, _, stub = served
    request = pb.PredictRequest(records=[employee(EXAMPLE_RECORD)])
    response, call = stub.Predict.with_call(request, metadata=(("x-request-id", "grpc-call-42"),))
    assert response.request_id == "grpc-call-42"
    assert ("x-request-id", "grpc-call-42") in tuple(call.trailing_metadata())


def test_predict_without_metadata_gets_a_generated_request_id(served):
    _, _, stub = served
    request = pb.PredictRequest(records=[employee(EXAMPLE_RECORD)])
    made = []
    for _ in range(2):
        response, call = stub.Predict.with_call(request)
        assert response.request_id
        assert dict(call.trailing_metadata())["x-request-id"] == response.request_id
        made.append(response.request_id)
    assert made[0] != made[1]


def test_employee_ids_reach_the_prediction_log(served):
    settings, core, stub = served
    request = pb.PredictRequest(
        records=[
            employee(EXAMPLE_RECORD, "emp-a"),
            employee(EXAMPLE_RECORD),
            employee(EXAMPLE_RECORD, "emp-c"),
        ]
    )
    response = stub.Predict(request, metadata=(("x-request-id", "grpc-logged"),))
    assert len(response.predictions) == 3
    assert core.prediction_log.flush(5)
    rows = read_predictions(lake_from_settings(settings), settings.predictions_bucket, *days_around_today())
    rows = rows[rows["request_id"] == "grpc-logged"].sort_values("record_index")
    assert rows["record_index"].tolist() == [0, 1, 2]
    assert [None if pd.isna(e) else e for e in rows["employee_id"]] == ["emp-a", None, "emp-c"]
    assert set(rows["protocol"]) == {"grpc"} and set(rows["role"]) == {"served"}
    assert rows["predicted_class"].tolist() == [p.class_name for p in response.predictions]
