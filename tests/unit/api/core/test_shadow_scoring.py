"""Shadow scoring (issue 24): with BURNOUT_SHADOW_ALIAS set, a share of the requests is scored again by that
alias off the request path and logged with role "shadow" beside the served rows; the client's answer never
waits for it nor changes; a full shadow queue drops and counts."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from burnout_api.core import InferenceCore
from burnout_api.main import create_app
from etl.lake import lake_from_settings
from monitoring.prediction_log import read_predictions

EMPLOYEE_ID = "Employee ID"
CHAMPION_VERSION, SHADOW_VERSION = 1, 2


@pytest.fixture
def store(make_store, lightgbm_pipeline, knn_pipeline):
    return make_store(
        {CHAMPION_VERSION: lightgbm_pipeline, SHADOW_VERSION: knn_pipeline},
        {"champion": CHAMPION_VERSION, "challenger": SHADOW_VERSION},
    )


@pytest.fixture
def records(raw_records) -> list[dict]:
    """Ten varied records, each with an Employee ID."""
    return [{**record, EMPLOYEE_ID: f"emp-{i}"} for i, record in enumerate(raw_records[:10])]


class Service:
    """One REST service over its own core and lake; `with service:` runs it (its exit stops the core, which
    scores what the shadow queued and writes the prediction log)."""

    def __init__(self, settings, store):
        self.settings = settings
        self.core = InferenceCore(settings, store=store)
        self.client = TestClient(create_app(settings, self.core))

    def __enter__(self) -> Service:
        self.client.__enter__()
        self.core.refresh()  # the poller's first refresh, without waiting for it
        return self

    def __exit__(self, *exc) -> None:
        self.client.__exit__(*exc)

    def predict(self, records: list[dict], request_id: str, alias: str | None = None):
        url = "/predict" if alias is None else f"/predict?model={alias}"
        return self.client.post(url, json=records, headers={"X-Request-ID": request_id})

    def metric(self, name: str, **labels: str) -> float | None:
        for family in text_string_to_metric_families(self.client.get("/metrics").text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return None

    def logged(self) -> pd.DataFrame:
        today = datetime.now(UTC).date()
        frame = read_predictions(
            lake_from_settings(self.settings),
            self.settings.predictions_bucket,
            today - timedelta(days=1),
            today + timedelta(days=1),
        )
        return frame.sort_values(["request_id", "role", "record_index"]).reset_index(drop=True)


@pytest.fixture
def service(make_settings, tmp_path, store):
    """service(name, store=None, **settings): a Service with its own home (and lake) under tmp_path."""

    def build(name: str, store_=None, **overrides) -> Service:
        settings = make_settings(home=tmp_path / name, prediction_log_flush_s=60.0, **overrides)
        return Service(settings, store_ or store)

    return build


def test_the_answer_bytes_are_the_same_with_shadow_on_and_off(service, records):
    answers = {}
    for name, overrides in (("off", {}), ("on", {"shadow_alias": "challenger"})):
        with service(name, **overrides) as running:
            answer = running.predict(records, "same-request")
            assert answer.status_code == 200 and answer.headers["x-request-id"] == "same-request"
            answers[name] = answer.content
            assert [p["model_version"] for p in answer.json()["predictions"]] == [CHAMPION_VERSION] * 10
    assert answers["on"] == answers["off"]


def test_the_log_holds_served_and_shadow_rows_of_the_same_records(service, records):
    with service("on", shadow_alias="challenger") as running:
        for request_id in ("first", "second"):
            assert running.predict(records, request_id).status_code == 200
        # What the challenger would have answered, asked directly (logged under its own request id).
        direct = running.predict(records, "direct", alias="challenger").json()["predictions"]
    rows = running.logged()
    rows = rows[rows["request_id"] != "direct"]
    served, shadow = rows[rows["role"] == "served"], rows[rows["role"] == "shadow"]
    assert len(served) == len(shadow) == 20
    key = ["request_id", "record_index"]
    assert sorted(map(tuple, served[key].to_numpy().tolist())) == sorted(
        map(tuple, shadow[key].to_numpy().tolist())
    )
    assert set(served["model_version"]) == {CHAMPION_VERSION} and set(served["alias"]) == {"champion"}
    assert set(shadow["model_version"]) == {SHADOW_VERSION} and set(shadow["alias"]) == {"challenger"}
    for request_id in ("first", "second"):
        of_request = shadow[shadow["request_id"] == request_id].sort_values("record_index")
        assert of_request["predicted_class"].tolist() == [p["class"] for p in direct]
        assert of_request["employee_id"].tolist() == [r[EMPLOYEE_ID] for r in records]
        assert of_request["proba_High"].tolist() == pytest.approx(
            [p["probabilities"]["High"] for p in direct]
        )


def test_the_shadow_is_counted_in_metrics(service, records):
    with service("on", shadow_alias="challenger") as running:
        running.predict(records, "counted")
        deadline = time.monotonic() + 10
        scored = None
        while time.monotonic() < deadline:
            scored = running.metric("burnout_shadow_records_total", alias="challenger", version="2")
            if scored == len(records):
                break
            time.sleep(0.02)
        assert scored == len(records)
        assert running.metric("burnout_shadow_dropped_records_total", reason="queue_full") == 0


def test_a_full_shadow_queue_drops_and_counts_without_blocking_or_changing_answers(
    service, records, monkeypatch
):
    one = records[:1]
    with service("off") as plain:
        expected = {f"full-{i}": plain.predict(one, f"full-{i}").content for i in range(6)}
    gate, entered = threading.Event(), threading.Event()
    running = service("full", shadow_alias="challenger", shadow_queue_rows=3)
    with running:
        shadow_model = running.core.snapshot.models["challenger"]
        original = shadow_model.predict

        def stuck(batch, explain=False):  # a shadow model that takes forever
            entered.set()
            gate.wait(30)
            return original(batch, explain)

        monkeypatch.setattr(shadow_model, "predict", stuck)
        try:
            for request_id, answer in expected.items():
                started = time.perf_counter()
                got = running.predict(one, request_id)
                assert time.perf_counter() - started < 2.0  # never waits for the shadow model
                assert got.status_code == 200 and got.content == answer
            assert entered.wait(5)
            # Three single-record requests fill the queue (one being scored): the next three are dropped.
            assert running.metric("burnout_shadow_dropped_records_total", reason="queue_full") == 3
            assert running.metric("burnout_shadow_queue_records") == 3
        finally:
            gate.set()
    rows = running.logged()
    assert sorted(rows.loc[rows["role"] == "served", "request_id"]) == sorted(expected)
    assert sorted(rows.loc[rows["role"] == "shadow", "request_id"]) == ["full-0", "full-1", "full-2"]


def test_fraction_zero_shadows_nothing(service, records):
    with service("zero", shadow_alias="challenger", shadow_fraction=0.0) as running:
        for i in range(10):
            assert running.predict(records, f"zero-{i}").status_code == 200
        assert running.metric("burnout_shadow_records_total", alias="challenger", version="2") is None
        assert running.metric("burnout_shadow_dropped_records_total", reason="queue_full") == 0
    rows = running.logged()
    assert len(rows) == 100 and set(rows["role"]) == {"served"}


def test_a_shadow_alias_on_the_served_version_is_skipped(service, make_store, lightgbm_pipeline, records):
    same = make_store({1: lightgbm_pipeline}, {"champion": 1, "challenger": 1})
    with service("same", store_=same, shadow_alias="challenger") as running:
        assert running.predict(records, "same-version").status_code == 200
        assert running.metric("burnout_shadow_dropped_records_total", reason="queue_full") == 0
    rows = running.logged()
    assert len(rows) == 10 and set(rows["role"]) == {"served"}


def test_a_request_served_by_the_shadow_alias_is_not_shadowed(service, records):
    with service("named", shadow_alias="challenger") as running:
        assert running.predict(records, "by-challenger", alias="challenger").status_code == 200
        assert running.predict(records, "by-champion").status_code == 200
    rows = running.logged()
    shadowed = set(rows.loc[rows["role"] == "shadow", "request_id"])
    assert shadowed == {"by-champion"}


def test_records_the_canary_served_with_the_shadow_version_are_not_shadowed(service, records):
    # Canary and shadow on one alias: the records the canary answered have nothing to compare.
    with service(
        "both", shadow_alias="challenger", canary_alias="challenger", canary_percent=50.0
    ) as running:
        answer = running.predict(records, "split-and-shadow").json()
        versions = [p["model_version"] for p in answer["predictions"]]
        assert set(versions) == {CHAMPION_VERSION, SHADOW_VERSION}  # these ids split this batch
    rows = running.logged()
    shadow = rows[rows["role"] == "shadow"]
    served_by_champion = [i for i, v in enumerate(versions) if v == CHAMPION_VERSION]
    assert sorted(shadow["record_index"]) == served_by_champion


def test_the_log_can_leave_employee_ids_out(service, records):
    with service("anonymous", shadow_alias="challenger", prediction_log_employee_id=False) as running:
        assert running.predict(records, "no-ids").status_code == 200
    rows = running.logged()
    assert set(rows["role"]) == {"served", "shadow"} and len(rows) == 20
    assert rows["employee_id"].isna().all()
