"""The service's side of the prediction log: answered predictions go into a bounded in-memory queue, and a
background thread writes them to the lake (`monitoring.prediction_log`) in batches, by size or by time.

The hot path only appends references (the validated batch, the answer, a few strings and a timestamp) under
a short lock; the writer thread builds the Arrow table and writes it. When the queue is full, rows are
dropped and counted, never waited for: a slow or absent lake must not slow down or stop the answers.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from burnout_api.core.loaded_model import BatchPrediction
from burnout_api.core.metrics import ServiceMetrics
from burnout_api.core.request_ids import MAX_REQUEST_ID_CHARS, new_request_id
from burnout_api.features import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS
from burnout_api.validation import RecordBatch
from burnout_base.settings import Settings
from monitoring.prediction_log import (
    ALIAS,
    EMPLOYEE_ID,
    LOGGED_AT,
    MODEL_VERSION,
    PREDICTED_CLASS,
    PROBABILITY_COLUMNS,
    PROTOCOL,
    RECORD_INDEX,
    REPLICA,
    REQUEST_ID,
    ROLE,
    SCHEMA,
    SERVED,
    write_predictions,
)

log = logging.getLogger(__name__)
# A failed write is tried this many times in all, waiting RETRY_WAIT_S * attempt between tries, before its
# rows are counted as dropped.
WRITE_ATTEMPTS = 3
RETRY_WAIT_S = 1.0


class LoggedAnswer(NamedTuple):
    """One answered request, as the writer reads it (the hot path queues a plain tuple: 30 times cheaper).
    `request_id`: the request's, or one per record (the stream's, where every record is a request)."""

    batch: RecordBatch
    result: BatchPrediction
    alias: str
    protocol: str
    request_id: str | list[str] | None
    logged_at: float  # time.time()
    role: str  # SERVED, or SHADOW: a challenger's answer the client never saw
    record_indexes: np.ndarray | None  # each record's place in its request; None: 0, 1, 2, ...


class PredictionLogWriter:
    """Queue answered predictions and write them in batches of `flush_rows` or every `flush_s` seconds.

    `write(table)` stores one Arrow table in `SCHEMA`; `queue_rows` bounds the rows queued or being written.
    """

    def __init__(
        self,
        write: Callable[[pa.Table], object],
        metrics: ServiceMetrics,
        queue_rows: int = 100_000,
        flush_rows: int = 5_000,
        flush_s: float = 10.0,
        retry_wait_s: float = RETRY_WAIT_S,
        replica: str | None = None,
        employee_ids: bool = True,
    ) -> None:
        self._write, self._metrics = write, metrics
        self.replica = replica  # written on every row: which replica answered
        self.employee_ids = employee_ids  # False: the records' Employee IDs are left out of the log
        self.queue_rows, self.flush_s = queue_rows, flush_s
        self.flush_rows = max(1, min(flush_rows, queue_rows))
        self._retry_wait_s = retry_wait_s
        self._queue: deque[tuple] = deque()  # LoggedAnswer's fields
        self._lock = threading.Lock()
        self._pending = 0  # rows queued or being written: what queue_rows bounds
        self._queued = 0  # rows queued, not yet taken by the writer: what flush_rows counts
        self._flush_requested = False
        self._appended = 0  # entries accepted so far; flush() waits until the writer has taken them all
        self._taken = 0
        self._done = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()  # one writer at a time: the thread, or flush() without it
        metrics.watch_prediction_log_queue(lambda: self._pending)

    @classmethod
    def from_settings(cls, settings: Settings, metrics: ServiceMetrics) -> PredictionLogWriter:
        """A writer writing to `settings.predictions_bucket` of the settings' lake (made on first write)."""
        lake = None

        def write(table: pa.Table) -> None:
            nonlocal lake
            if lake is None:
                from etl.lake import lake_from_settings

                lake = lake_from_settings(settings)
            write_predictions(lake, settings.predictions_bucket, table)

        return cls(
            write,
            metrics,
            queue_rows=settings.prediction_log_queue_rows,
            flush_rows=settings.prediction_log_flush_rows,
            flush_s=settings.prediction_log_flush_s,
            replica=settings.replica_name,
            employee_ids=settings.prediction_log_employee_id,
        )

    @property
    def pending_rows(self) -> int:
        return self._pending

    # The hot path ----------------------------------------------------------------------------------------
    def append(
        self,
        batch: RecordBatch,
        result: BatchPrediction,
        alias: str,
        protocol: str,
        request_id: str | list[str] | None = None,
        role: str = SERVED,
        logged_at: float | None = None,
        record_indexes: np.ndarray | None = None,
    ) -> bool:
        """Queue one answered request; False (and counted) when the queue has no room for its rows.
        `logged_at` (time.time()): when the request was answered, by default now; `record_indexes`: the
        records' places in the request, by default 0, 1, 2, ... The shadow passes the served answer's, so
        that both rows of a pair have the same key and fall in the same windows."""
        rows, wake = len(result.labels), False
        if not rows:
            return True
        with self._lock:
            if self._pending + rows > self.queue_rows:
                full = True
            else:
                full = False
                self._pending += rows
                self._queued += rows
                self._appended += 1
                self._queue.append(
                    (
                        batch,
                        result,
                        alias,
                        protocol,
                        request_id,
                        logged_at or time.time(),
                        role,
                        record_indexes,
                    )
                )
                wake = self._queued >= self.flush_rows
        if full:
            self._metrics.observe_log_dropped(rows, "queue_full")
            return False
        if wake and not self._wake.is_set():
            self._wake.set()
        return True

    # Lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background writer (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Write everything queued so far, waiting at most `timeout` seconds; True when it was all written
        (or dropped after failed writes). Without a running writer thread, writes in the caller's thread."""
        deadline = time.monotonic() + timeout
        if self._thread is None or not self._thread.is_alive():
            if not self._write_lock.acquire(timeout=max(0.0, timeout)):
                return False
            try:
                self._write_taken(deadline, everything=True)
            finally:
                self._write_lock.release()
            return self._pending == 0
        target = self._appended
        self.flush_soon()
        with self._done:
            # Entries are written in order and counted once written (or dropped): this is "all of them".
            return self._done.wait_for(
                lambda: self._taken >= target, timeout=max(0.0, deadline - time.monotonic())
            )

    def flush_soon(self) -> None:
        """Ask the writer to write everything queued now, without waiting for it."""
        self._flush_requested = True
        self._wake.set()

    def stop(self, timeout: float) -> bool:
        """Flush (at most `timeout` seconds) and stop the writer. Rows appended later stay queued for the next
        flush or stop; rows still unwritten when the process exits are reported in the log."""
        flushed = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=0.5 if flushed else 0.0)
        if self._pending:
            log.warning("prediction log: %d rows not written at stop (lake slow or down)", self._pending)
        return flushed

    # The writer ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_s
        while not self._stopping:
            self._wake.wait(timeout=max(0.0, next_flush - time.monotonic()))
            self._wake.clear()
            if self._stopping:
                break
            # Woken by size: full batches only, the rest waits for more rows or for its time.
            everything = self._flush_requested or time.monotonic() >= next_flush
            self._flush_requested = False
            with self._write_lock:
                self._write_taken(None, everything)
            if everything:
                next_flush = time.monotonic() + self.flush_s

    def _write_taken(self, deadline: float | None, everything: bool) -> None:
        """Write queued entries `flush_rows` at a time: all of them, or while a whole batch waits (the caller
        holds the write lock)."""
        while True:
            with self._lock:
                entries, rows = [], 0
                if everything or self._queued >= self.flush_rows:
                    while self._queue and rows < self.flush_rows:
                        entry = self._queue.popleft()
                        entries.append(entry)
                        rows += len(entry[1].labels)  # LoggedAnswer.result
                    self._queued -= rows
            if not entries:
                return
            try:
                self._write_with_retries(entries, rows, deadline)
            finally:
                with self._lock:
                    self._pending -= rows
                with self._done:
                    self._taken += len(entries)
                    self._done.notify_all()

    def _write_with_retries(self, entries: list[tuple], rows: int, deadline: float | None) -> None:
        try:
            table = self.build_table([LoggedAnswer._make(entry) for entry in entries])
        except Exception:
            log.exception("prediction log: %d rows could not be converted; dropped", rows)
            self._metrics.observe_log_dropped(rows, "write_failed")
            return
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                self._write(table)
            except Exception as exc:
                self._metrics.observe_log_write_failure()
                wait = self._retry_wait_s * attempt
                out_of_time = deadline is not None and time.monotonic() + wait > deadline
                if attempt == WRITE_ATTEMPTS or out_of_time:
                    log.error("prediction log: %d rows dropped after %d failures: %s", rows, attempt, exc)
                    self._metrics.observe_log_dropped(rows, "write_failed")
                    return
                log.warning("prediction log: write failed (attempt %d), retrying: %s", attempt, exc)
                time.sleep(wait)
            else:
                self._metrics.observe_log_written(rows)
                return

    def build_table(self, entries: list[LoggedAnswer]) -> pa.Table:
        """The rows of `entries` in `SCHEMA`."""
        return answers_table(entries, self.replica, self.employee_ids)


def answers_table(entries: list[LoggedAnswer], replica: str | None, employee_ids: bool = True) -> pa.Table:
    """Prediction log rows (`SCHEMA`): one per record, keyed by (request id, record index), the raw record
    (and its Employee ID unless `employee_ids` is False) next to its answer, the alias and version that
    answered it, its role and the name of the `replica`. Every protocol's rows, the stream worker's and the
    shadow's included, are built here by the writer."""
    counts = np.fromiter((len(e.result.labels) for e in entries), dtype=np.int64, count=len(entries))
    stamps = np.array([int(e.logged_at * 1_000_000) for e in entries], dtype=np.int64)
    probabilities = np.vstack([e.result.probabilities for e in entries])
    numeric = np.vstack([e.batch.numeric for e in entries])
    records = itertools.chain.from_iterable(e.batch.categorical for e in entries)
    categorical = list(zip(*records, strict=True))
    request_ids: list[str] = []
    indexes: list[np.ndarray] = []
    for entry, count in zip(entries, counts.tolist(), strict=True):
        ids = entry.request_id or new_request_id()
        if isinstance(ids, str):  # one request: its records are numbered
            request_ids.extend([ids[:MAX_REQUEST_ID_CHARS]] * count)
            numbered = entry.record_indexes
            indexes.append(np.arange(count, dtype=np.int32) if numbered is None else numbered)
        else:  # one request per record (the stream)
            request_ids.extend(one[:MAX_REQUEST_ID_CHARS] for one in ids)
            indexes.append(np.zeros(count, dtype=np.int32))
    columns: dict[str, pa.Array] = {
        REQUEST_ID: pa.array(request_ids, pa.string()),
        RECORD_INDEX: pa.array(np.concatenate(indexes)),
        LOGGED_AT: pa.array(np.repeat(stamps, counts), pa.timestamp("us", tz="UTC")),
        PROTOCOL: pa.array(np.repeat(np.array([e.protocol for e in entries], dtype=object), counts)),
        ALIAS: pa.array(_per_record(entries, counts, lambda e: e.alias, lambda e: e.result.aliases)),
        MODEL_VERSION: pa.array(
            _per_record(entries, counts, lambda e: e.result.model.version, lambda e: e.result.versions),
            pa.int64(),
        ),
        PREDICTED_CLASS: pa.array(list(itertools.chain.from_iterable(e.result.labels for e in entries))),
    }
    for i, name in enumerate(PROBABILITY_COLUMNS):
        columns[name] = pa.array(probabilities[:, i], pa.float64())
    for i, column in enumerate(NUMERIC_COLUMNS):
        columns[column.name] = pa.array(numeric[:, i], pa.float64(), from_pandas=True)  # NaN -> null
    for i, column in enumerate(CATEGORICAL_COLUMNS):
        columns[column.name] = pa.array(categorical[i], pa.string())
    columns[REPLICA] = pa.array(np.full(len(probabilities), replica, dtype=object), pa.string())
    if employee_ids and any(e.batch.employee_ids for e in entries):
        ids = itertools.chain.from_iterable(e.batch.employee_ids or [None] * len(e.batch) for e in entries)
        columns[EMPLOYEE_ID] = pa.array(list(ids), pa.string())
    else:
        columns[EMPLOYEE_ID] = pa.nulls(len(probabilities), pa.string())
    columns[ROLE] = pa.array(np.repeat(np.array([e.role for e in entries], dtype=object), counts))
    return pa.table([columns[name] for name in SCHEMA.names], schema=SCHEMA)


def _per_record(entries: list[LoggedAnswer], counts: np.ndarray, whole, each) -> list:
    """A column whose value is the entry's (`whole`), unless a canary split it (`each`: one per record)."""
    values: list = []
    for entry, count in zip(entries, counts.tolist(), strict=True):
        split = each(entry)
        values.extend(split if split is not None else [whole(entry)] * count)
    return values
