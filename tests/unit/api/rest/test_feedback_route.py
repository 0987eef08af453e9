"""POST /feedback: outcomes by request id or by Employee ID window, checked with the contract's rules, stored
in the lake before the answer (read back with `monitoring.feedback.read_feedback`); a batch with one bad
outcome stores nothing; every answer carries X-Request-ID."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import monitoring.feedback
from burnout_api.core import InferenceCore
from burnout_api.main import create_app
from etl.lake import lake_from_settings
from monitoring.feedback import read_feedback

BY_REQUEST = {"request_id": "req-1", "record_index": 2, "Burn Rate": 0.52}
BY_REQUEST_DEFAULT_INDEX = {"request_id": "req-2", "class": "Low"}
BY_EMPLOYEE = {
    "Employee ID": "emp-7",
    "from": "2026-01-05",
    "to": "2026-01-12T08:30:00+00:00",
    "class": "High",
}
BY_EMPLOYEE_OPEN = {"Employee ID": "emp-8", "from": "2026-01-05T00:00:00", "Burn Rate": 0.1, "class": "Low"}
VALID = [BY_REQUEST, BY_REQUEST_DEFAULT_INDEX, BY_EMPLOYEE, BY_EMPLOYEE_OPEN]


@pytest.fixture
def served(make_settings, make_store, lightgbm_pipeline):
    """served(**settings) -> (settings, client), the service running."""
    clients = []

    def build(**overrides):
        settings = make_settings(**overrides)
        store = make_store({1: lightgbm_pipeline}, {"champion": 1})
        client = TestClient(create_app(settings, InferenceCore(settings, store=store)))
        client.__enter__()
        clients.append(client)
        return settings, client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def stored(settings) -> pd.DataFrame:
    today = datetime.now(UTC).date()
    return read_feedback(
        lake_from_settings(settings),
        settings.feedback_bucket,
        today - timedelta(days=1),
        today + timedelta(days=1),
    )


def test_valid_outcomes_are_stored_and_counted(served):
    settings, client = served()
    before = datetime.now(UTC)
    answer = client.post("/feedback", json=VALID, headers={"X-Request-ID": "post-1"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == "post-1"
    body = answer.json()
    assert body["accepted"] == 4 and body["files"] == 1 and body["feedback_id"]
    rows = stored(settings)
    assert len(rows) == 4 and set(rows["feedback_id"]) == {body["feedback_id"]}
    rows = rows.set_index(rows["request_id"].fillna(rows["employee_id"]))
    assert rows.loc["req-1", "record_index"] == 2 and rows.loc["req-1", "burn_rate"] == 0.52
    assert rows.loc["req-1", "observed_class"] == "Medium"  # from the Burn Rate
    assert rows.loc["req-2", "record_index"] == 0 and pd.isna(rows.loc["req-2", "burn_rate"])
    assert rows.loc["req-2", "observed_class"] == "Low"
    for key in ("req-1", "req-2"):
        assert pd.isna(rows.loc[key, "employee_id"]) and pd.isna(rows.loc[key, "window_start"])
    emp7 = rows.loc["emp-7"]
    assert pd.isna(emp7["request_id"]) and pd.isna(emp7["record_index"])
    assert emp7["window_start"] == pd.Timestamp("2026-01-05", tz="UTC")
    assert emp7["window_end"] == pd.Timestamp("2026-01-12T08:30:00", tz="UTC")
    assert emp7["observed_class"] == "High" and pd.isna(emp7["burn_rate"])
    emp8 = rows.loc["emp-8"]
    assert emp8["window_start"] == pd.Timestamp("2026-01-05", tz="UTC")  # no zone: UTC
    assert emp8["window_end"] >= pd.Timestamp(before)  # no "to": now
    assert emp8["burn_rate"] == 0.1 and emp8["observed_class"] == "Low"
    assert (rows["received_at"] >= pd.Timestamp(before)).all()


@pytest.mark.parametrize(
    ("bad", "field", "kind"),
    [
        ({"request_id": "r", "Burn Rate": 1.5}, "Burn Rate", "out_of_range"),
        ({"request_id": "r", "class": "Extreme"}, "class", "unknown_category"),
        ({"request_id": "r", "Burn Rate": 0.9, "class": "Low"}, "class", "disagrees"),
        ({"request_id": "r", "Employee ID": "e", "from": "2026-01-01", "class": "Low"}, None, "no_match_key"),
        ({"class": "Low"}, None, "no_match_key"),
        ({"Employee ID": "e", "from": "last tuesday", "class": "Low"}, "from", "invalid_time"),
        (
            {"Employee ID": "e", "from": "2026-02-01", "to": "2026-01-01", "class": "Low"},
            "from",
            "empty_window",
        ),
        ({"Employee ID": "e", "class": "Low"}, "from", "missing"),
        ({"request_id": "r", "class": "Low", "outcome": "bad"}, "outcome", "unknown_field"),
    ],
)
def test_one_bad_outcome_is_422_naming_record_and_field_and_stores_nothing(served, bad, field, kind):
    settings, client = served()
    answer = client.post("/feedback", json=[BY_REQUEST, bad, BY_EMPLOYEE])
    assert answer.status_code == 422, answer.text
    assert answer.headers["x-request-id"]
    detail = answer.json()["detail"]
    assert [(d["record"], d["field"], d["type"]) for d in detail] == [(1, field, kind)]
    if field is None:  # both or neither key: the message names the two fields
        assert "'request_id'" in detail[0]["msg"] and "'Employee ID'" in detail[0]["msg"]
    assert stored(settings).empty


def test_posting_the_same_outcomes_twice_stores_both_copies(served):
    """The service does not deduplicate: `model_quality` removes duplicates when it joins outcomes with the
    prediction log, so a client may safely retry a post whose answer it did not get."""
    settings, client = served()
    first = client.post("/feedback", json=[BY_REQUEST, BY_EMPLOYEE]).json()
    second = client.post("/feedback", json=[BY_REQUEST, BY_EMPLOYEE]).json()
    assert first["accepted"] == second["accepted"] == 2
    assert first["feedback_id"] != second["feedback_id"]
    rows = stored(settings)
    assert len(rows) == 4
    assert rows.groupby("feedback_id").size().to_dict() == {first["feedback_id"]: 2, second["feedback_id"]: 2}
    assert sorted(rows["request_id"].dropna()) == ["req-1", "req-1"]


def test_over_max_batch_is_422_before_any_work(served, monkeypatch):
    settings, client = served(max_batch=3)

    def must_not_write(*_args, **_kwargs):
        raise AssertionError("nothing may be written")

    monkeypatch.setattr(monitoring.feedback, "write_feedback", must_not_write)
    # Four outcomes, all of them invalid: only the size is reported, none was checked.
    answer = client.post("/feedback", json=[{"nonsense": True}] * 4)
    assert answer.status_code == 422
    assert [(d["record"], d["field"], d["type"]) for d in answer.json()["detail"]] == [
        (None, None, "batch_too_large")
    ]
    assert "maximum is 3" in answer.json()["message"]
    monkeypatch.undo()
    assert stored(settings).empty


def test_a_body_that_is_not_json_is_400(served):
    settings, client = served()
    answer = client.post(
        "/feedback", content=b'[{"request_id": "r",', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400 and answer.headers["x-request-id"]
    assert stored(settings).empty


def test_a_body_that_is_not_application_json_is_415(served):
    settings, client = served()
    answer = client.post(
        "/feedback", content=b'[{"request_id": "r", "class": "Low"}]', headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 415 and "application/json" in answer.json()["message"]
    assert stored(settings).empty


def test_a_lake_failure_is_503_and_stores_nothing(served, monkeypatch):
    settings, client = served()

    def lake_down(*_args, **_kwargs):
        raise ConnectionError("the lake is down")

    monkeypatch.setattr(monitoring.feedback, "write_feedback", lake_down)
    answer = client.post("/feedback", json=VALID, headers={"X-Request-ID": "lake-down"})
    assert answer.status_code == 503 and answer.headers["x-request-id"] == "lake-down"
    assert "nothing was" in answer.json()["message"]
    assert "the lake is down" not in answer.text  # the exception's text stays in the service
    monkeypatch.undo()
    assert stored(settings).empty
    # Once the lake is back, the same outcomes are taken.
    assert client.post("/feedback", json=VALID).json()["accepted"] == 4


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'[{"request_id": "r", "class": "Low"}]', "application/json", 200),
        (b'[{"request_id": "r", "Burn Rate": 2}]', "application/json", 422),
        (b"not json", "application/json", 400),
        (b'[{"request_id": "r", "class": "Low"}]', "text/plain", 415),
    ],
)
def test_every_answer_carries_the_request_id(served, content, content_type, status):
    _, client = served()
    sent = client.post(
        "/feedback", content=content, headers={"content-type": content_type, "X-Request-ID": "client-id-9"}
    )
    assert sent.status_code == status and sent.headers["x-request-id"] == "client-id-9"
    generated = client.post("/feedback", content=content, headers={"content-type": content_type})
    assert generated.status_code == status
    made = generated.headers["x-request-id"]
    assert made and made != "client-id-9"
    assert (
        client.post("/feedback", content=content, headers={"content-type": content_type}).headers[
            "x-request-id"
        ]
        != made
    )
