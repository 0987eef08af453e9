"""The stream worker without Redis: a batch read from the stream is validated and scored by the inference core
in one call (protocol "stream"), each record answered and logged under its own entry id, bad records
dead-lettered in the validation's words; the core's metrics on a port of their own; a module of its own."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime

import pytest

from burnout_api.schemas import EXAMPLE_RECORD
from burnout_api.stream_worker import Entry, StreamWorker, serve_metrics
from etl.lake import lake_from_settings
from monitoring.prediction_log import read_predictions


class RecordedPipeline:
    """What `StreamWorker._answer` sends Redis, kept instead (xadd, xack, xdel in one transaction)."""

    def __init__(self, client: RecordedRedis):
        self.client = client

    def xadd(self, stream: str, fields: dict, **_: object) -> None:
        self.client.added.setdefault(stream, []).append(fields)

    def xack(self, stream: str, group: str, *ids: str) -> None:
        self.client.acknowledged.extend(ids)

    def xdel(self, stream: str, *ids: str) -> None:
        self.client.deleted.extend(ids)

    def execute(self) -> None:
        self.client.transactions += 1


class RecordedRedis:
    def __init__(self):
        self.added: dict[str, list[dict]] = {}
        self.acknowledged: list[str] = []
        self.deleted: list[str] = []
        self.transactions = 0

    def pipeline(self, transaction: bool = True) -> RecordedPipeline:
        assert transaction
        return RecordedPipeline(self)


def entry(entry_id: str, record: object) -> Entry:
    return Entry(entry_id, {"record": record if isinstance(record, str) else json.dumps(record)})


@pytest.fixture
def worker(make_core, make_store, lightgbm_pipeline):
    """A worker over a started core serving version 4 as champion; its replica name is stream-worker-3."""
    core = make_core(make_store({4: lightgbm_pipeline}, {"champion": 4}), replica_name="stream-worker-3")
    core.refresh()
    core.start()
    return StreamWorker(core.settings, core, RecordedRedis(), "worker-1")


def count_predict_calls(worker: StreamWorker, monkeypatch) -> list[int]:
    """The size of every batch the worker hands the core's predict."""
    sizes, predict = [], worker.core.predict

    def counted(records, *args, **kwargs):
        sizes.append(len(records))
        return predict(records, *args, **kwargs)

    monkeypatch.setattr(worker.core, "predict", counted)
    return sizes


def test_a_valid_batch_is_scored_in_one_call_of_the_core(worker, monkeypatch):
    sizes = count_predict_calls(worker, monkeypatch)
    entries = [entry(f"1-{i}", EXAMPLE_RECORD) for i in range(5)]

    outcome = worker.handle(entries)

    assert (outcome.scored, outcome.dead) == (5, 0) and sizes == [5]
    results = worker.client.added[worker.settings.stream_results]
    assert [r["id"] for r in results] == [e.id for e in entries]
    assert {r["model_version"] for r in results} == {"4"}
    assert worker.client.acknowledged == worker.client.deleted == [e.id for e in entries]
    assert worker.client.transactions == 1


def test_invalid_records_are_dead_lettered_in_the_validations_words_and_the_rest_scored(worker, monkeypatch):
    sizes = count_predict_calls(worker, monkeypatch)
    entries = [
        entry("1-0", EXAMPLE_RECORD),
        entry("1-1", {**EXAMPLE_RECORD, "Gender": "Robot"}),
        entry("1-2", "{not json"),
        entry("1-3", [1, 2]),
        entry("1-4", {**EXAMPLE_RECORD, "Gender": "Male", "Mental Fatigue Score": 11}),
        entry("1-5", EXAMPLE_RECORD),
    ]

    outcome = worker.handle(entries)

    assert (outcome.scored, outcome.dead) == (2, 4)
    assert sizes == [5, 2]  # the decodable records, then the valid ones: never one at a time
    results = worker.client.added[worker.settings.stream_results]
    assert [r["id"] for r in results] == ["1-0", "1-5"]
    dead = {letter["id"]: letter["reason"] for letter in worker.client.added[worker.settings.stream_dead]}
    assert dead["1-1"].startswith("field 'Gender': must be one of")
    assert dead["1-2"].startswith("the 'record' field is not JSON")
    assert dead["1-3"] == "expected an object of feature columns"
    assert dead["1-4"] == "field 'Mental Fatigue Score': must be between 0 and 10, got 11"
    assert sorted(worker.client.acknowledged) == sorted(e.id for e in entries)


def test_the_stream_shares_the_cores_metrics(worker):
    worker.handle([entry("1-0", EXAMPLE_RECORD), entry("1-1", {**EXAMPLE_RECORD, "Gender": "Robot"})])

    metrics = worker.core.metrics.render().decode()

    assert 'burnout_predict_records_total{alias="champion",protocol="stream",version="4"} 1.0' in metrics
    invalid = 'burnout_predict_errors_total{alias="champion",kind="invalid_input",protocol="stream"} 1.0'
    assert invalid in metrics


def test_each_record_is_logged_under_its_entry_id_by_the_services_writer(worker):
    worker.handle([entry("7-0", EXAMPLE_RECORD), entry("7-1", {**EXAMPLE_RECORD, "Gender": "Male"})])

    assert worker.core.prediction_log.flush(10)
    today = datetime.now(UTC).date()
    rows = read_predictions(
        lake_from_settings(worker.settings), worker.settings.predictions_bucket, today, today
    )

    assert sorted(rows["request_id"]) == ["7-0", "7-1"]
    assert set(rows["record_index"]) == {0}  # every record is a request of its own
    assert set(rows["protocol"]) == {"stream"} and set(rows["replica"]) == {"stream-worker-3"}
    assert set(rows["model_version"]) == {4}


def test_metrics_are_served_on_their_own_port(worker):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    worker.handle([entry("1-0", EXAMPLE_RECORD)])

    server = serve_metrics(worker.core, "127.0.0.1", port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        taken = serve_metrics(worker.core, "127.0.0.1", port)  # a second worker on the machine
    finally:
        server.shutdown()
        server.server_close()

    assert 'burnout_predict_records_total{alias="champion",protocol="stream",version="4"} 1.0' in text
    assert taken is None and serve_metrics(worker.core, "127.0.0.1", 0) is None


def test_the_worker_runs_as_a_module_without_the_api(tmp_path):
    check = "import sys, burnout_api.stream_worker; assert 'burnout_api.main' not in sys.modules"
    imported = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    no_redis = subprocess.run(
        [sys.executable, "-m", "burnout_api.stream_worker"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # no .env
        env={"PATH": "", "BURNOUT_REDIS_URL": "", "BURNOUT_HOME": str(tmp_path)},
    )

    assert imported.returncode == 0, imported.stderr
    assert no_redis.returncode == 1 and "BURNOUT_REDIS_URL is empty" in no_redis.stderr
