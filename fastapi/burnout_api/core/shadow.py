"""Shadow scoring: a share of the live requests (BURNOUT_SHADOW_FRACTION) is scored again by the model
behind BURNOUT_SHADOW_ALIAS, in a background thread, and both answers go to the prediction log (role
"served" and "shadow", same request id and record index), where `model_quality` pairs them with the outcomes.

The request path only queues a reference to the validated batch: the client's answer never waits for the
shadow model and never changes. The queue is bounded in records; past it, requests are not shadowed, and
the drops are counted in /metrics, as the prediction log counts its own.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable

from burnout_api.core.loaded_model import LoadedModel
from burnout_api.core.metrics import ServiceMetrics
from burnout_api.core.prediction_log_writer import PredictionLogWriter
from burnout_api.validation import RecordBatch
from monitoring.prediction_log import SHADOW

log = logging.getLogger(__name__)


class ShadowScorer:
    """Scores queued batches with `model_of(alias)` (None: not loaded, the batch is dropped and counted) and
    appends the answers to `prediction_log` with role "shadow"."""

    def __init__(
        self,
        alias: str,
        fraction: float,
        queue_records: int,
        model_of: Callable[[str], LoadedModel | None],
        prediction_log: PredictionLogWriter,
        metrics: ServiceMetrics,
    ) -> None:
        self.alias, self.fraction, self.queue_records = alias, fraction, queue_records
        self._model_of, self._log, self._metrics = model_of, prediction_log, metrics
        self._queue: deque[tuple] = deque()
        self._lock = threading.Lock()
        self._pending = 0  # records queued or being scored: what queue_records bounds
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = False
        self._thread: threading.Thread | None = None
        metrics.watch_shadow_queue(lambda: self._pending)

    def offer(
        self, batch: RecordBatch, protocol: str, request_id: str | list[str], served_version: int
    ) -> None:
        """Queue `batch` for the shadow model (the request path: a coin flip and a lock, nothing more)."""
        if self.fraction < 1.0 and random.random() >= self.fraction:
            return
        model = self._model_of(self.alias)
        if model is None or model.metadata.version == served_version:
            return  # nothing to compare: not loaded yet, or the same version answered
        records = len(batch)
        with self._lock:
            full = self._pending + records > self.queue_records
            if not full:
                self._pending += records
                self._queue.append((batch, protocol, request_id, time.time()))
                self._idle.clear()
        if full:
            self._metrics.observe_shadow_dropped(records, "queue_full")
        elif not self._wake.is_set():
            self._wake.set()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Score what is queued (at most `timeout` seconds), then stop; True when nothing was left."""
        done = self._idle.wait(timeout)
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=0.5)
        return done

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            while True:
                with self._lock:
                    if not self._queue:
                        self._idle.set()
                        break
                    batch, protocol, request_id, answered_at = self._queue.popleft()
                try:
                    self._score(batch, protocol, request_id, answered_at)
                finally:
                    with self._lock:
                        self._pending -= len(batch)

    def _score(
        self, batch: RecordBatch, protocol: str, request_id: str | list[str], answered_at: float
    ) -> None:
        model = self._model_of(self.alias)
        if model is None:  # the alias went away since the request was queued
            self._metrics.observe_shadow_dropped(len(batch), "not_loaded")
            return
        try:
            result = model.predict(batch)
        except Exception:
            log.exception("shadow model %s failed on %d records", self.alias, len(batch))
            self._metrics.observe_shadow_dropped(len(batch), "failed")
            return
        self._metrics.observe_shadow_scored(self.alias, result.model.version, len(batch))
        # Logged at the served answer's time: the pair falls in the same windows (feedback's, the DAG's day).
        self._log.append(batch, result, self.alias, protocol, request_id, SHADOW, answered_at)
