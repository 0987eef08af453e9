"""The canary split (issue 24): with BURNOUT_CANARY_ALIAS and BURNOUT_CANARY_PERCENT set, a stable hash of the
record's Employee ID (else of its request id) sends that share of the records to the canary; an explicit
alias bypasses the split; every answer, log row and metric names the version that answered."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from burnout_api.core import InferenceCore
from burnout_api.core.canary import canary_mask, share_of
from burnout_api.main import create_app
from burnout_api.schemas import EXAMPLE_RECORD
from etl.lake import lake_from_settings
from monitoring.prediction_log import read_predictions

EMPLOYEE_ID = "Employee ID"
CHAMPION_VERSION, CANARY_VERSION = 1, 2
IDS = [f"emp-{i:05d}" for i in range(10_000)]


@pytest.fixture
def store(make_store, lightgbm_pipeline, knn_pipeline):
    return make_store(
        {CHAMPION_VERSION: lightgbm_pipeline, CANARY_VERSION: knn_pipeline},
        {"champion": CHAMPION_VERSION, "challenger": CANARY_VERSION},
    )


@pytest.fixture
def canary_core(make_core, store):
    """A core sending `percent` of the records to the challenger (refreshed, not started)."""

    def build(percent: float = 10.0, **overrides) -> InferenceCore:
        core = make_core(store, canary_alias="challenger", canary_percent=percent, **overrides)
        core.refresh()
        return core

    return build


def with_ids(ids: list[str | None]) -> list[dict]:
    return [{**EXAMPLE_RECORD, EMPLOYEE_ID: employee} for employee in ids]


def versions_of(result) -> list[int]:
    return [result.version_of(i) for i in range(len(result.labels))]


def to_canary(key: str, percent: float) -> bool:
    return share_of(key) < percent


def sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of `name{labels}` in a /metrics text, None when absent."""
    for family in text_string_to_metric_families(metrics):
        for one in family.samples:
            if one.name == name and one.labels == labels:
                return one.value
    return None


@pytest.mark.parametrize("percent", [10.0, 50.0])
def test_the_canary_share_of_10000_employees_is_within_binomial_bounds(canary_core, percent):
    core = canary_core(percent)
    result = core.predict(with_ids(IDS), request_id="one-big-request")
    versions = versions_of(result)
    canaried = versions.count(CANARY_VERSION)
    p, n = percent / 100, len(IDS)
    assert abs(canaried - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)), canaried
    # Each record went where its own Employee ID hashes, not where the request id does.
    assert versions == [CANARY_VERSION if to_canary(e, percent) else CHAMPION_VERSION for e in IDS]
    assert result.aliases == ["challenger" if v == CANARY_VERSION else "champion" for v in versions]


@pytest.mark.parametrize("percent", [10.0, 50.0])
def test_the_canary_share_of_10000_request_ids_is_within_binomial_bounds(percent):
    requests = [f"request-{i}" for i in range(10_000)]
    canaried = sum(bool(canary_mask(1, percent, rid, None)[0]) for rid in requests)
    p, n = percent / 100, len(requests)
    assert abs(canaried - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)), canaried


def test_the_assignment_is_stable_across_cores_calls_and_processes(canary_core):
    ids = IDS[:2_000]
    first, second = canary_core(30.0), canary_core(30.0)  # two replicas, or one before and after a restart
    answers = [
        versions_of(first.predict(with_ids(ids), request_id="a")),
        versions_of(first.predict(with_ids(ids), request_id="b")),
        versions_of(second.predict(with_ids(ids), request_id="c")),
    ]
    assert answers[0] == answers[1] == answers[2]
    assert CANARY_VERSION in answers[0] and CHAMPION_VERSION in answers[0]
    # A new process with another hash seed (Python's hash() is salted per process: the split must not be).
    script = (
        "import json, sys\n"
        "from burnout_api.core.canary import share_of\n"
        "ids = json.load(sys.stdin)\n"
        "print(json.dumps([share_of(i) < 30.0 for i in ids]))\n"
    )
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    elsewhere = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(ids),
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        timeout=120,
    )
    expected = [v == CANARY_VERSION for v in answers[0]]
    assert json.loads(elsewhere.stdout) == expected


def test_an_employee_gets_the_same_model_whatever_the_request_id(canary_core):
    core = canary_core(50.0)
    employees = IDS[:40]
    expected = [CANARY_VERSION if to_canary(e, 50.0) else CHAMPION_VERSION for e in employees]
    assert set(expected) == {CHAMPION_VERSION, CANARY_VERSION}
    for request_id in ("r-1", "r-2", "r-3", "another-request"):
        assert versions_of(core.predict(with_ids(employees), request_id=request_id)) == expected
    # One record per request (the path that picks one model for the request): still the employee's.
    for employee, version in zip(employees, expected, strict=True):
        for request_id in ("x", "y", "z"):
            result = core.predict(with_ids([employee]), request_id=request_id)
            assert versions_of(result) == [version]


def test_records_without_an_employee_id_follow_the_request_id(canary_core):
    core = canary_core(50.0)
    seen = set()
    for i in range(30):
        request_id = f"anonymous-{i}"
        want = CANARY_VERSION if to_canary(request_id, 50.0) else CHAMPION_VERSION
        seen.add(want)
        # No record has an id: the whole request goes one way.
        assert versions_of(core.predict([EXAMPLE_RECORD] * 8, request_id=request_id)) == [want] * 8
        # Mixed: those without an id follow the request id, the others their own.
        mixed = [None, IDS[0], None, IDS[1], None]
        answered = versions_of(core.predict(with_ids(mixed), request_id=request_id))
        assert answered == [
            (CANARY_VERSION if to_canary(employee, 50.0) else CHAMPION_VERSION) if employee else want
            for employee in mixed
        ]
    assert seen == {CHAMPION_VERSION, CANARY_VERSION}


@pytest.mark.parametrize("alias", ["champion", "challenger"])
def test_an_explicit_alias_bypasses_the_split(canary_core, alias):
    core = canary_core(100.0)  # everything to the canary, unless an alias is named
    assert set(versions_of(core.predict(with_ids(IDS[:50])))) == {CANARY_VERSION}
    expected = CHAMPION_VERSION if alias == "champion" else CANARY_VERSION
    result = core.predict(with_ids(IDS[:50]), alias=alias, request_id="named")
    assert result.versions is None and result.model.version == expected
    single = core.predict(with_ids(IDS[:1]), alias=alias)
    assert single.versions is None and single.model.version == expected


def test_split_per_request_serves_a_whole_request_with_one_version(canary_core):
    core = canary_core(50.0)
    employees = IDS[:20]  # their own hashes would split this batch
    assert len({to_canary(e, 50.0) for e in employees}) == 2
    served = set()
    for i in range(30):
        request_id = f"v2-{i}"
        result = core.predict(with_ids(employees), request_id=request_id, split_per_request=True)
        want = CANARY_VERSION if to_canary(request_id, 50.0) else CHAMPION_VERSION
        assert result.versions is None or set(result.versions) == {want}
        assert result.model.version == want and set(versions_of(result)) == {want}
        served.add(want)
        # One record, with an Employee ID: still the request id's (V2 names one version per request).
        single = core.predict(with_ids(employees[:1]), request_id=request_id, split_per_request=True)
        assert versions_of(single) == [want]
    assert served == {CHAMPION_VERSION, CANARY_VERSION}


@pytest.fixture
def rest_client(make_settings, store):
    def build(**overrides):
        settings = make_settings(**overrides)
        core = InferenceCore(settings, store=store)
        client = TestClient(create_app(settings, core))
        return settings, core, client

    return build


def logged_rows(settings, request_id: str):
    today = datetime.now(UTC).date()
    frame = read_predictions(
        lake_from_settings(settings),
        settings.predictions_bucket,
        today - timedelta(days=1),
        today + timedelta(days=1),
    )
    return frame[frame["request_id"] == request_id].sort_values("record_index").reset_index(drop=True)


def test_rest_answers_log_rows_and_metrics_name_each_records_version(rest_client):
    settings, core, client = rest_client(canary_alias="challenger", canary_percent=50.0)
    employees = IDS[:30]
    expected = [CANARY_VERSION if to_canary(e, 50.0) else CHAMPION_VERSION for e in employees]
    assert set(expected) == {CHAMPION_VERSION, CANARY_VERSION}
    with client:
        core.refresh()
        answer = client.post("/predict", json=with_ids(employees), headers={"X-Request-ID": "split-1"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["request_id"] == "split-1"
        assert [p["model_version"] for p in body["predictions"]] == expected
        assert body["model"]["alias"] == "champion" and body["model"]["version"] == CHAMPION_VERSION
        metrics = client.get("/metrics").text
    # Stopping the service writes the queued prediction log.
    rows = logged_rows(settings, "split-1")
    assert rows["record_index"].tolist() == list(range(len(employees)))
    assert rows["model_version"].tolist() == expected
    assert rows["alias"].tolist() == ["challenger" if v == CANARY_VERSION else "champion" for v in expected]
    assert rows["employee_id"].tolist() == employees
    assert set(rows["role"]) == {"served"}
    canaried = expected.count(CANARY_VERSION)
    for alias, version, records in (
        ("champion", CHAMPION_VERSION, len(expected) - canaried),
        ("challenger", CANARY_VERSION, canaried),
    ):
        labels = {"protocol": "rest", "alias": alias, "version": str(version)}
        assert sample(metrics, "burnout_predict_requests_total", **labels) == 1
        assert sample(metrics, "burnout_predict_records_total", **labels) == records


def test_metrics_count_requests_by_alias_and_version_when_the_canary_takes_whole_requests(rest_client):
    _, core, client = rest_client(canary_alias="challenger", canary_percent=50.0)
    requests = [f"whole-{i}" for i in range(20)]
    canaried = sum(to_canary(r, 50.0) for r in requests)
    assert 0 < canaried < len(requests)
    with client:
        core.refresh()
        for request_id in requests:
            answer = client.post("/predict", json=[EXAMPLE_RECORD] * 3, headers={"X-Request-ID": request_id})
            want = CANARY_VERSION if to_canary(request_id, 50.0) else CHAMPION_VERSION
            body = answer.json()
            assert [p["model_version"] for p in body["predictions"]] == [want] * 3
            # The canary took the whole request: the answer names it.
            assert body["model"]["version"] == want
            assert body["model"]["alias"] == ("challenger" if want == CANARY_VERSION else "champion")
        metrics = client.get("/metrics").text
    requests_of = {
        alias: sample(
            metrics, "burnout_predict_requests_total", protocol="rest", alias=alias, version=str(version)
        )
        for alias, version in (("champion", CHAMPION_VERSION), ("challenger", CANARY_VERSION))
    }
    assert requests_of == {"champion": len(requests) - canaried, "challenger": canaried}
