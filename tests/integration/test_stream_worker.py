"""The stream worker against the real Redis: records queued by POST /predict_stream are scored by the champion
and answered on the results stream and in the prediction log, bad ones end in the dead-letter stream with
their reason, and a worker killed mid-batch loses nothing: another one takes its batch over. The API only
queues: it never reads the stream."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from burnout_api.core import InferenceCore
from burnout_api.main import create_app
from burnout_api.stream_worker import StreamWorker
from burnout_dev.processes import free_port
from etl.contract import CLASSES, FEATURES
from etl.lake import lake_from_settings
from monitoring.prediction_log import read_predictions
from tests.integration.serving_support import wait_for
from tests.integration.stream_support import cleaned, redis_client, stream_settings
from tests.unit.api.conftest import FakeStore, fit_pipeline

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.fixture(scope="module")
def pipeline():
    from lightgbm import LGBMClassifier

    from etl.contract import TARGET, burn_rate_to_class
    from etl.synthetic import generate_synthetic

    frame = generate_synthetic(rows=400, seed=3)
    frame = frame[frame[TARGET].notna()].reset_index(drop=True)
    frame = frame.assign(label=frame[TARGET].map(burn_rate_to_class))
    return fit_pipeline(frame, LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1, random_state=0))


@pytest.fixture(scope="module")
def records() -> list[dict]:
    from etl.synthetic import generate_synthetic

    frame = generate_synthetic(rows=120, seed=11)[list(FEATURES)].astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


@pytest.fixture
def redis_db():
    return redis_client()


@pytest.fixture
def stream_env(make_settings, redis_db):
    base = make_settings(stream_batch_size=50, stream_block_ms=200, stream_claim_idle_s=1.0)
    yield from cleaned(redis_db, stream_settings(base))


def enqueue(settings, records: list[dict]) -> list[str]:
    with TestClient(create_app(settings, InferenceCore(settings, store=FakeStore()))) as client:
        answer = client.post("/predict_stream", json=records)
    assert answer.status_code == 202, answer.text
    return answer.json()["ids"]


@pytest.fixture
def worker_of(redis_db):
    """worker_of(settings, pipeline, consumer="worker-1"): a worker over a started core (its prediction log
    writer runs), stopped after the test."""
    cores = []

    def build(settings, pipeline, consumer: str = "worker-1") -> StreamWorker:
        core = InferenceCore(settings, store=FakeStore({1: pipeline}, {"champion": 1}))
        core.refresh()
        core.start()
        cores.append(core)
        worker = StreamWorker(settings, core, redis_db, consumer)
        worker.ensure_group()
        return worker

    yield build
    for core in cores:
        core.stop()


def results_by_request(redis_db, settings) -> dict[str, list[dict]]:
    answers: dict[str, list[dict]] = {}
    for _, fields in redis_db.xrange(settings.stream_results):
        answers.setdefault(fields["id"], []).append(fields)
    return answers


def logged(settings, worker: StreamWorker | None = None):
    """The prediction log's rows of today, once `worker`'s core wrote what it queued."""
    if worker is not None:
        assert worker.core.prediction_log.flush(10)
    today = datetime.now(UTC).date()
    return read_predictions(lake_from_settings(settings), settings.predictions_bucket, today, today)


def test_worker_answers_each_record_logs_it_and_acknowledges(
    stream_env, redis_db, pipeline, records, worker_of
):
    ids = enqueue(stream_env, records[:30])
    worker = worker_of(stream_env, pipeline)

    outcome = worker.process_once()

    assert (outcome.scored, outcome.dead) == (30, 0)
    answers = results_by_request(redis_db, stream_env)
    assert sorted(answers) == sorted(ids) and all(len(a) == 1 for a in answers.values())
    first = answers[ids[0]][0]
    assert first["class"] in CLASSES and first["model_version"] == "1"
    assert sum(json.loads(first["probabilities"]).values()) == pytest.approx(1.0)
    assert redis_db.xpending(stream_env.stream_requests, stream_env.stream_group)["pending"] == 0
    assert redis_db.xlen(stream_env.stream_requests) == 0
    rows = logged(stream_env, worker)
    assert sorted(rows["request_id"]) == sorted(ids) and set(rows["protocol"]) == {"stream"}
    assert set(rows["model_version"]) == {1} and set(rows["replica"]) == {stream_env.replica_name}
    metrics = worker.core.metrics.render().decode()
    assert 'burnout_predict_records_total{alias="champion",protocol="stream",version="1"} 30.0' in metrics
    assert 'burnout_predict_requests_total{alias="champion",protocol="stream",version="1"} 1.0' in metrics


def test_a_bad_record_goes_to_dead_letters_with_its_reason_and_the_good_ones_are_scored(
    stream_env, redis_db, pipeline, records, worker_of
):
    good = enqueue(stream_env, records[:3])
    robot_record = json.dumps({**records[0], "Gender": "Robot"})
    robot = redis_db.xadd(stream_env.stream_requests, {"record": robot_record})
    garbled = redis_db.xadd(stream_env.stream_requests, {"record": "{not json"})
    worker = worker_of(stream_env, pipeline)

    outcome = worker.process_once()

    assert (outcome.scored, outcome.dead) == (3, 2)
    assert sorted(results_by_request(redis_db, stream_env)) == sorted(good)
    dead = {fields["id"]: fields for _, fields in redis_db.xrange(stream_env.stream_dead)}
    assert set(dead) == {robot, garbled}
    assert (
        dead[robot]["reason"].startswith("field 'Gender': must be one of")
        and "Robot" in dead[robot]["record"]
    )
    assert "not JSON" in dead[garbled]["reason"]
    assert redis_db.xpending(stream_env.stream_requests, stream_env.stream_group)["pending"] == 0


def test_a_record_delivered_too_often_is_dead_lettered(stream_env, redis_db, pipeline, records, worker_of):
    settings = stream_env.model_copy(update={"stream_max_deliveries": 1, "stream_claim_idle_s": 0.05})
    [poison] = enqueue(settings, records[:1])
    worker = worker_of(settings, pipeline)
    # A worker read it and died: it stays pending under that worker's name.
    redis_db.xreadgroup(settings.stream_group, "dead-worker", {settings.stream_requests: ">"}, count=10)
    threading.Event().wait(0.1)

    outcome = worker.process_once()

    assert (outcome.scored, outcome.dead) == (0, 1)
    [(_, letter)] = redis_db.xrange(settings.stream_dead)
    assert letter["id"] == poison and "delivered 2 times" in letter["reason"]


def test_without_a_champion_the_worker_reads_nothing(stream_env, redis_db, records):
    enqueue(stream_env, records[:2])
    core = InferenceCore(stream_env, store=FakeStore())
    core.refresh()
    worker = StreamWorker(stream_env, core, redis_db, "worker-1")
    threading.Timer(0.5, worker.stopping.set).start()

    worker.run()

    assert redis_db.xlen(stream_env.stream_requests) == 2
    assert redis_db.xlen(stream_env.stream_results) == 0


def start_worker(
    settings, pipeline_file: Path, log_file: Path, pause_file: Path | None = None, metrics_port: int = 0
):
    env = {**os.environ, **{k: v for k, v in settings.to_environment().items() if v is not None}}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    command = [sys.executable, str(HERE / "stream_worker_process.py"), "--pipeline", str(pipeline_file)]
    command += ["--metrics-port", str(metrics_port)]
    if pause_file is not None:
        command += ["--pause-file", str(pause_file)]
    with open(log_file, "w") as log:
        return subprocess.Popen(
            command, env=env, cwd=pipeline_file.parent, stdout=subprocess.PIPE, stderr=log, text=True
        )


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_no_message(stream_env, redis_db, pipeline, records, tmp_path):
    pipeline_file = tmp_path / "pipeline.pkl"
    pipeline_file.write_bytes(pickle.dumps(pipeline))
    ids = enqueue(stream_env, records)  # 120 records, batches of 50
    pause_file = tmp_path / "first-batch"
    doomed = start_worker(stream_env, pipeline_file, tmp_path / "a.log", pause_file)
    survivor = None
    try:
        wait_for(lambda: pause_file.exists() and pause_file.read_text(), timeout=120)
        held = pause_file.read_text().split()
        assert len(held) == 50
        os.kill(doomed.pid, signal.SIGKILL)  # mid-batch: read, not answered, not acknowledged
        doomed.wait(30)
        pending = redis_db.xpending(stream_env.stream_requests, stream_env.stream_group)
        assert pending["pending"] == 50

        metrics_port = free_port()
        survivor = start_worker(stream_env, pipeline_file, tmp_path / "b.log", metrics_port=metrics_port)
        wait_for(lambda: redis_db.xlen(stream_env.stream_results) >= len(ids), timeout=120)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
        survivor.send_signal(signal.SIGTERM)  # stops after the batch in hand
        out, _ = survivor.communicate(timeout=60)
    finally:
        for process in (doomed, survivor):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()

    assert survivor.returncode == 0, (tmp_path / "b.log").read_text()[-3000:]
    assert json.loads(out)["scored"] == len(ids)
    answers = results_by_request(redis_db, stream_env)
    assert sorted(answers) == sorted(ids)
    assert all(len(found) == 1 for found in answers.values())
    assert {answers[i][0]["worker"] for i in held} == {json.loads(out)["consumer"]}
    assert redis_db.xpending(stream_env.stream_requests, stream_env.stream_group)["pending"] == 0
    assert redis_db.xlen(stream_env.stream_dead) == 0
    assert sorted(logged(stream_env)["request_id"]) == sorted(ids)  # written at SIGTERM
    stream_records = 'burnout_predict_records_total{alias="champion",protocol="stream",version="1"}'
    assert f"{stream_records} {float(len(ids))}" in metrics


def test_the_worker_makes_the_group_again_when_redis_lost_it(
    stream_env, redis_db, pipeline, records, worker_of
):
    worker = worker_of(stream_env, pipeline)
    redis_db.delete(stream_env.stream_requests)  # what a restart of a Valkey without persistence does
    ids = enqueue(stream_env, records[:2])

    def stop_once_answered() -> None:
        try:
            wait_for(lambda: redis_db.xlen(stream_env.stream_results) >= 2, timeout=60)
        finally:
            worker.stopping.set()

    stopper = threading.Thread(target=stop_once_answered)
    stopper.start()

    worker.run()
    stopper.join()

    assert sorted(results_by_request(redis_db, stream_env)) == sorted(ids)


def test_a_record_the_model_fails_on_is_dead_lettered_and_the_rest_scored(
    stream_env, redis_db, pipeline, records, monkeypatch, worker_of
):
    female = {**records[0], "Gender": "Female"}
    ids = enqueue(stream_env, [female, {**records[1], "Gender": "Male"}, female])
    worker = worker_of(stream_env, pipeline)
    model = worker.core.ensure_alias("champion")
    score = model.predict

    def fails_on_men(batch, explain=False):
        if any("Male" in row for row in batch.categorical):
            raise ValueError("the model cannot score this one")
        return score(batch, explain)

    monkeypatch.setattr(model, "predict", fails_on_men)

    outcome = worker.process_once()

    assert (outcome.scored, outcome.dead) == (2, 1)
    assert sorted(results_by_request(redis_db, stream_env)) == sorted([ids[0], ids[2]])
    [(_, letter)] = redis_db.xrange(stream_env.stream_dead)
    assert letter["id"] == ids[1] and "ValueError: the model cannot score this one" in letter["reason"]
    assert sorted(logged(stream_env, worker)["request_id"]) == sorted([ids[0], ids[2]])


def test_the_api_only_queues_records_it_never_reads_the_stream(stream_env, redis_db, pipeline, records):
    core = InferenceCore(stream_env, store=FakeStore({1: pipeline}, {"champion": 1}))
    with TestClient(create_app(stream_env, core)) as client:
        wait_for(core.is_ready, timeout=30)  # a champion is served: nothing waits for one
        queued = client.post("/predict_stream", json=records[:5])
        threading.Event().wait(0.5)

    assert queued.status_code == 202
    assert redis_db.xlen(stream_env.stream_requests) == 5
    assert redis_db.xinfo_groups(stream_env.stream_requests) == []  # no consumer group, no reader
    assert redis_db.xlen(stream_env.stream_results) == 0
