"""The service's prediction log (issue 13): answers queued off the hot path, written in batches by size or
time, dropped and counted when the queue is full, flushed at stop, and retried then counted when the lake
refuses a write."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest

from burnout_api.core.loaded_model import BatchPrediction, ModelMetadata
from burnout_api.core.metrics import ServiceMetrics
from burnout_api.core.prediction_log_writer import PredictionLogWriter
from burnout_api.features import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS
from burnout_api.schemas import EXAMPLE_RECORD
from burnout_api.validation import RecordBatch, validate_records
from etl.lake import LocalLake
from monitoring.prediction_log import SCHEMA, read_predictions

NULLABLE = next(c.name for c in NUMERIC_COLUMNS if c.nullable)
METADATA = ModelMetadata(7, "lightgbm", "run", "ds", {}, datetime.now(UTC))


def answered(rows: int) -> tuple[RecordBatch, BatchPrediction]:
    """A validated batch of `rows` example records and an answer for it (all "High")."""
    batch = validate_records([EXAMPLE_RECORD] * rows, 10_000)
    probabilities = np.tile([0.1, 0.2, 0.7], (rows, 1))
    return batch, BatchPrediction(METADATA, ["High"] * rows, probabilities)


class Recorder:
    """A `write` that keeps the tables, and can fail its next `failures` calls."""

    def __init__(self, failures: int = 0):
        self.tables: list[pa.Table] = []
        self.failures = failures
        self.calls = 0
        self.written = threading.Event()

    def __call__(self, table: pa.Table) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the lake is down")
        self.tables.append(table)
        self.written.set()

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.tables)


def metric(metrics: ServiceMetrics, line: str) -> float:
    for text in metrics.render().decode().splitlines():
        if text.startswith(line + " "):
            return float(text.split()[-1])
    raise AssertionError(f"{line} not in /metrics")


@pytest.fixture
def make_logger():
    loggers = []

    def build(write, **options) -> tuple[PredictionLogWriter, ServiceMetrics]:
        metrics = ServiceMetrics()
        logger = PredictionLogWriter(write, metrics, **{"retry_wait_s": 0.01, **options})
        loggers.append(logger)
        return logger, metrics

    yield build
    for logger in loggers:
        logger.stop(1)


def test_a_batch_is_written_once_flush_rows_wait(make_logger):
    write = Recorder()
    logger, metrics = make_logger(write, flush_rows=10, flush_s=60)
    logger.start()
    for _ in range(3):
        logger.append(*answered(4), "champion", "rest")
    assert write.written.wait(5)
    assert write.rows == 12
    assert metric(metrics, "burnout_prediction_log_rows_total") == 12


def test_writes_by_size_are_whole_batches_and_the_rest_waits(make_logger):
    write = Recorder()
    logger, _ = make_logger(write, flush_rows=10, flush_s=60)
    logger.start()
    for _ in range(25):
        logger.append(*answered(1), "champion", "rest")
    deadline = time.monotonic() + 5
    while write.rows < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert [t.num_rows for t in write.tables] == [10, 10]
    assert logger.pending_rows == 5
    assert logger.flush(5)
    assert [t.num_rows for t in write.tables] == [10, 10, 5]


def test_rows_are_written_after_flush_s_even_when_few(make_logger):
    write = Recorder()
    logger, _ = make_logger(write, flush_rows=1_000, flush_s=0.2)
    logger.start()
    started = time.monotonic()
    logger.append(*answered(1), "champion", "grpc")
    assert write.written.wait(5)
    assert 0.1 < time.monotonic() - started < 3
    assert write.rows == 1


def test_a_full_queue_drops_and_counts_without_waiting(make_logger):
    write = Recorder()
    logger, metrics = make_logger(write, queue_rows=10, flush_rows=1_000, flush_s=60)
    assert logger.append(*answered(6), "champion", "rest")
    started = time.perf_counter()
    assert not logger.append(*answered(6), "champion", "rest")
    assert time.perf_counter() - started < 0.01
    assert logger.append(*answered(4), "champion", "rest")
    assert metric(metrics, 'burnout_prediction_log_dropped_rows_total{reason="queue_full"}') == 6
    assert metric(metrics, "burnout_prediction_log_queue_rows") == 10
    assert logger.flush(5)
    assert write.rows == 10
    assert metric(metrics, "burnout_prediction_log_queue_rows") == 0


def test_stop_writes_everything_queued(make_logger):
    write = Recorder()
    logger, _ = make_logger(write, flush_rows=1_000, flush_s=60)
    logger.start()
    for n in (1, 5, 1):
        logger.append(*answered(n), "knn", "graphql")
    assert write.rows == 0
    assert logger.stop(5)
    assert write.rows == 7
    logger.append(*answered(2), "knn", "grpc")  # answered after the stop: the next stop writes it
    assert logger.stop(5)
    assert write.rows == 9


def test_a_failed_write_is_retried(make_logger):
    write = Recorder(failures=2)
    logger, metrics = make_logger(write, flush_rows=1_000, flush_s=60)
    logger.append(*answered(3), "champion", "rest")
    assert logger.flush(5)
    assert write.rows == 3 and write.calls == 3
    assert metric(metrics, "burnout_prediction_log_write_failures_total") == 2
    assert metric(metrics, 'burnout_prediction_log_dropped_rows_total{reason="write_failed"}') == 0


def test_a_write_that_keeps_failing_is_dropped_counted_and_logged(make_logger, caplog):
    write = Recorder(failures=100)
    logger, metrics = make_logger(write, flush_rows=2, flush_s=60)
    logger.start()
    logger.append(*answered(2), "champion", "rest")
    deadline = time.monotonic() + 5
    while logger.pending_rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert metric(metrics, 'burnout_prediction_log_dropped_rows_total{reason="write_failed"}') == 2
    assert metric(metrics, "burnout_prediction_log_write_failures_total") == 3
    assert "2 rows dropped after 3 failures" in caplog.text
    write.failures = 0  # the lake is back: the service logs again
    logger.append(*answered(1), "champion", "rest")
    assert logger.flush(5)
    assert write.rows == 1


def test_rows_carry_the_record_its_answer_and_who_asked(make_logger):
    write = Recorder()
    logger, _ = make_logger(write, flush_rows=1_000, flush_s=60, replica="api-2")
    batch = validate_records([EXAMPLE_RECORD, {**EXAMPLE_RECORD, NULLABLE: None}], 10)
    result = BatchPrediction(METADATA, ["Low", "High"], np.array([[0.8, 0.1, 0.1], [0.1, 0.2, 0.7]]))
    logger.append(batch, result, "champion", "rest", "client-42")
    logger.append(*answered(1), "knn", "grpc")
    assert logger.flush(5)
    rows = write.tables[0].to_pylist()
    assert write.tables[0].schema == SCHEMA
    assert [(r["request_id"], r["record_index"]) for r in rows[:2]] == [("client-42", 0), ("client-42", 1)]
    assert rows[2]["request_id"] not in ("client-42", None)
    assert [(r["protocol"], r["alias"], r["model_version"], r["predicted_class"]) for r in rows] == [
        ("rest", "champion", 7, "Low"),
        ("rest", "champion", 7, "High"),
        ("grpc", "knn", 7, "High"),
    ]
    assert rows[0]["proba_Low"] == 0.8
    assert rows[1][NULLABLE] is None  # missing stays missing (null, not NaN)
    assert rows[0][NULLABLE] == float(EXAMPLE_RECORD[NULLABLE])
    assert rows[0][CATEGORICAL_COLUMNS[0].name] == EXAMPLE_RECORD[CATEGORICAL_COLUMNS[0].name]
    assert (datetime.now(UTC) - rows[0]["logged_at"]).total_seconds() < 60
    assert [r["replica"] for r in rows] == ["api-2"] * 3  # which replica answered


def test_the_core_logs_answers_to_the_local_lake_and_can_be_switched_off(
    make_core, make_store, lightgbm_pipeline, make_settings
):
    core = make_core(
        make_store({1: lightgbm_pipeline}, {"champion": 1}), prediction_log_flush_s=60, replica_name="api-9"
    )
    core.start()
    core.refresh()
    core.predict([EXAMPLE_RECORD] * 3, protocol="graphql")
    core.predict([EXAMPLE_RECORD], protocol="rest", request_id="abc")
    core.stop()
    settings = core.settings
    rows = read_predictions(LocalLake(settings.lake_root), settings.predictions_bucket, date.min, date.max)
    assert len(rows) == 4
    assert sorted(rows["protocol"]) == ["graphql", "graphql", "graphql", "rest"]
    assert list(rows["replica"]) == ["api-9"] * 4

    off = make_core(make_store({1: lightgbm_pipeline}, {"champion": 1}), prediction_log_enabled=False)
    off.start()
    off.refresh()
    off.predict([EXAMPLE_RECORD])
    off.stop()
    assert off.prediction_log is None
