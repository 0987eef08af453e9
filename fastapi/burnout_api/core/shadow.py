"""Shadow scoring: a share of the live requests (BURNOUT_SHADOW_FRACTION) is scored again by the model
behind BURNOUT_SHADOW_ALIAS, in a background thread, and both answers go to the prediction log (role
"served" and "shadow", same request id and record index), where `model_quality` pairs them with the outcomes.

The request path only queues a reference to the validated batch: the client's answer never waits for the
shadow model and never changes. The queue is bounded in records; past it, requests are not shadowed, and
the drops are counted in /metrics, as the prediction log counts its own.

The thread scores in bursts: it lets requests gather for BURST_WAIT_S, then scores everything queued in one
call of the model. Scoring each request as it came kept the thread busy with the interpreter lock, which the
event loop then waited for at every step: at half the saturated rate, single-record requests took 20 to 170
times longer. One vectorised call per burst costs about what one record did.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from burnout_api.core.loaded_model import BatchPrediction, LoadedModel
from burnout_api.core.metrics import ServiceMetrics
from burnout_api.core.prediction_log_writer import PredictionLogWriter
from burnout_api.validation import RecordBatch
from monitoring.prediction_log import SHADOW

log = logging.getLogger(__name__)
BURST_WAIT_S = 0.05
MAX_BURST_RECORDS = 4_096  # records scored in one call at most (a larger queue takes several calls)


class ShadowScorer:
    """Scores queued batches with `model_of(alias)` (None: not loaded, the records are dropped and counted)
    and appends the answers to `prediction_log` with role "shadow"."""

    def __init__(
        self,
        alias: str,
        fraction: float,
        queue_records: int,
        model_of: Callable[[str], LoadedModel | None],
        prediction_log: PredictionLogWriter,
        metrics: ServiceMetrics,
        burst_wait_s: float = BURST_WAIT_S,
    ) -> None:
        self.alias, self.fraction, self.queue_records = alias, fraction, queue_records
        self._model_of, self._log, self._metrics = model_of, prediction_log, metrics
        self._burst_wait_s = burst_wait_s
        self._queue: deque[tuple] = deque()  # (batch, protocol, request id(s), answered at, record indexes)
        self._lock = threading.Lock()
        self._pending = 0  # records queued or being scored: what queue_records bounds
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = False
        self._thread: threading.Thread | None = None
        metrics.watch_shadow_queue(lambda: self._pending)

    def offer(
        self, batch: RecordBatch, protocol: str, request_id: str | list[str], served: BatchPrediction
    ) -> None:
        """Queue the records of `batch` that `served` did not answer with the shadow's version (the request
        path: a coin flip, a comparison and a lock)."""
        if self.fraction < 1.0 and random.random() >= self.fraction:
            return
        model = self._model_of(self.alias)
        if model is None:
            return  # not loaded yet: nothing to compare with
        version, indexes = model.metadata.version, None
        if served.versions is None:
            if served.model.version == version:
                return  # the same version answered
        else:  # a canary answered some records: those it answered with this version are not scored again
            keep = np.asarray(served.versions) != version
            if not keep.any():
                return
            if not keep.all():
                indexes = np.flatnonzero(keep).astype(np.int32)
                batch = batch.select(keep)
                if not isinstance(request_id, str):
                    request_id = [request_id[i] for i in indexes]
        records = len(batch)
        with self._lock:
            full = self._pending + records > self.queue_records
            if not full:
                self._pending += records
                self._queue.append((batch, protocol, request_id, time.time(), indexes))
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
        self._wake.set()
        done = self._idle.wait(timeout)
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=0.5)
        return done

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            if not self._stopping:
                time.sleep(self._burst_wait_s)  # let the burst gather (stop() skips the wait)
            self._wake.clear()
            while True:
                with self._lock:
                    burst, records = [], 0
                    while self._queue and records < MAX_BURST_RECORDS:
                        burst.append(self._queue.popleft())
                        records += len(burst[-1][0])
                    if not burst:
                        self._idle.set()
                        break
                try:
                    self._score(burst, records)
                finally:
                    with self._lock:
                        self._pending -= records

    def _score(self, burst: list[tuple], records: int) -> None:
        model = self._model_of(self.alias)
        if model is None:  # the alias went away since these were queued
            self._metrics.observe_shadow_dropped(records, "not_loaded")
            return
        batches = [entry[0] for entry in burst]
        try:
            result = model.predict(batches[0] if len(batches) == 1 else RecordBatch.concat(batches))
        except Exception:
            log.exception("shadow model %s failed on %d records", self.alias, records)
            self._metrics.observe_shadow_dropped(records, "failed")
            return
        self._metrics.observe_shadow_scored(self.alias, result.model.version, records)
        start = 0
        for batch, protocol, request_id, answered_at, indexes in burst:
            end = start + len(batch)
            answer = BatchPrediction(result.model, result.labels[start:end], result.probabilities[start:end])
            # Logged at the served answer's time and record indexes: the pair falls in the same windows.
            self._log.append(batch, answer, self.alias, protocol, request_id, SHADOW, answered_at, indexes)
            start = end
