"""`burnout stream-worker`: scores the records POST /predict_stream put on the Redis requests stream.

Workers share one consumer group, so each record goes to one of them, and `--scale stream-worker=N` adds
workers. A worker reads a batch, scores its valid records with the champion (hot-swapped: the same inference
core as the API), writes their rows to the prediction log (protocol "stream"), then, in one transaction, adds
the answers to the results stream and the records it cannot score (with the reason) to the dead-letter stream,
acknowledges and deletes the batch. Delivery is at least once: a worker that dies before that transaction
leaves its batch pending, and another worker takes it over (XAUTOCLAIM) once it has been idle for
`stream_claim_idle_s`; a record delivered `stream_max_deliveries` times without an answer is dead-lettered.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import redis

from burnout_api.core import CHAMPION, BatchPrediction, InferenceCore, ModelUnavailable, NoModelYet
from burnout_api.core.model_store import ModelStore
from burnout_api.core.prediction_logger import LoggedAnswer
from burnout_api.core.prediction_logger import log_table as prediction_log_table
from burnout_api.record_stream import RECORD, REQUEST_ID, connect, describe_url
from burnout_api.validation import InvalidInput, RecordBatch, validate_records
from burnout_base.settings import Settings, SettingsError
from etl.contract import CLASSES
from monitoring import prediction_log as plog

log = logging.getLogger(__name__)
RETRY_WAIT_S = 2.0  # after Redis or the lake failed, or while there is no champion


@dataclass
class Entry:
    """One request entry as read: its id, its fields, and how many times it has been delivered."""

    id: str
    fields: dict | None
    deliveries: int = 1


@dataclass
class Outcome:
    """What became of one batch."""

    scored: int = 0
    dead: int = 0
    retried: int = 0  # left pending (no champion, MLflow or the lake unreachable): taken over later


class StreamWorker:
    """One consumer of the requests stream's group (`consumer` unique per process: hostname-pid)."""

    def __init__(self, settings: Settings, core: InferenceCore, client: redis.Redis, consumer: str = ""):
        self.settings, self.core, self.client = settings, core, client
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.stopping = threading.Event()
        self._lake = None
        self._group_ready = False
        self.totals = Outcome()

    def ensure_group(self) -> None:
        """Create the consumer group (and the stream) unless it exists; it starts from the stream's start."""
        s = self.settings
        try:
            self.client.xgroup_create(s.stream_requests, s.stream_group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def run(self) -> Outcome:
        """Work until `stopping` is set (SIGTERM): the batch in hand is finished first."""
        s = self.settings
        log.info("stream worker %s reads %s (group %s)", self.consumer, s.stream_requests, s.stream_group)
        waiting = None
        while not self.stopping.is_set():
            self._beat()
            try:
                if not self.core.is_ready():
                    if waiting != "model":
                        log.info("waiting for a champion model (run burnout_pipeline) before reading")
                        waiting = "model"
                    self.stopping.wait(RETRY_WAIT_S)
                    continue
                if not self._group_ready:
                    self.ensure_group()
                self.process_once()
                waiting = None
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):  # else Redis lost the group (restarted without persistence)
                    raise
                log.warning("the consumer group is gone, making it again: %s", exc)
                self._group_ready = False
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if waiting != "redis":
                    url = describe_url(self.settings.redis_url or "")
                    log.warning("Redis at %s does not answer, retrying: %s", url, exc)
                    waiting = "redis"
                self.stopping.wait(RETRY_WAIT_S)
        log.info("stream worker %s stopped: %s", self.consumer, self.totals)
        return self.totals

    def process_once(self) -> Outcome:
        """Handle one batch: records idle too long at dead workers first, else new ones (waiting for them
        at most `stream_block_ms`)."""
        entries = self.claim_stale() or self.read_new()
        outcome = self.handle(entries) if entries else Outcome()
        for name in ("scored", "dead", "retried"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(outcome, name))
        return outcome

    def claim_stale(self) -> list[Entry]:
        s = self.settings
        _, claimed, *_ = self.client.xautoclaim(
            s.stream_requests,
            s.stream_group,
            self.consumer,
            min_idle_time=int(s.stream_claim_idle_s * 1000),
            start_id="0-0",
            count=s.stream_batch_size,
        )
        if not claimed:
            return []
        ids = [entry_id for entry_id, _ in claimed]
        pending = self.client.xpending_range(
            s.stream_requests, s.stream_group, ids[0], ids[-1], len(ids) * 2, consumername=self.consumer
        )
        deliveries = {p["message_id"]: p["times_delivered"] for p in pending}
        log.info("took over %d records idle for %g s or more", len(claimed), s.stream_claim_idle_s)
        return [Entry(entry_id, fields, deliveries.get(entry_id, 2)) for entry_id, fields in claimed]

    def read_new(self) -> list[Entry]:
        s = self.settings
        reply = self.client.xreadgroup(
            s.stream_group,
            self.consumer,
            {s.stream_requests: ">"},
            count=s.stream_batch_size,
            block=s.stream_block_ms,
        )
        return [Entry(entry_id, fields) for _, messages in reply or [] for entry_id, fields in messages]

    def handle(self, entries: list[Entry]) -> Outcome:
        """Score, log, answer and acknowledge one batch (or leave it pending when it cannot be scored now)."""
        dead: dict[str, str] = {}
        good: list[tuple[Entry, RecordBatch, dict]] = []
        for entry in entries:
            reason = None
            if entry.deliveries > self.settings.stream_max_deliveries:
                reason = f"delivered {entry.deliveries} times without an answer (its workers died or failed)"
            else:
                record, reason = _decode(entry)
                if reason is None:
                    try:
                        good.append((entry, validate_records([record], 1), record))
                    except InvalidInput as exc:
                        reason = "; ".join(
                            error.describe().removeprefix("record 0, ") for error in exc.errors
                        )
            if reason is not None:
                dead[entry.id] = reason
        results: list[tuple[str, str, np.ndarray]] = []
        version = None
        if good:
            try:
                model = self.core.ensure_alias(CHAMPION)
            except (NoModelYet, ModelUnavailable) as exc:
                return self._leave_pending(entries, f"no champion to score with: {exc}")
            ids, batch, prediction = self._score(model, good, dead)
            try:
                if ids:
                    self._write_log(ids, batch, prediction)
            except Exception as exc:  # the lake (S3 errors are not OSErrors): the rows must be logged first
                return self._leave_pending(entries, f"the prediction log could not be written: {exc}")
            if ids:
                version = prediction.model.version
                results = list(zip(ids, prediction.labels, prediction.probabilities, strict=True))
        self._answer(entries, results, version, dead)
        return Outcome(scored=len(results), dead=len(dead))

    def _score(self, model, good: list, dead: dict[str, str]):
        """The valid records scored as one batch; when the batch fails, record by record, so that only the
        records the model cannot score go to dead letters."""
        batch = _concat([b for _, b, _ in good])
        try:
            return [e.id for e, _, _ in good], batch, model.predict(batch)
        except Exception as exc:
            log.warning("a batch of %d records failed to score, scoring them one by one: %s", len(good), exc)
        kept = []
        for entry, one, _ in good:
            try:
                kept.append((entry, one, model.predict(one)))
            except Exception as exc:
                dead[entry.id] = f"the model could not score it: {type(exc).__name__}: {exc}"[:1000]
        if not kept:
            return [], None, None
        labels = [label for _, _, p in kept for label in p.labels]
        probabilities = np.vstack([p.probabilities for _, _, p in kept])
        prediction = BatchPrediction(kept[0][2].model, labels, probabilities)
        return [e.id for e, _, _ in kept], _concat([one for _, one, _ in kept]), prediction

    def _leave_pending(self, entries: list[Entry], why: str) -> Outcome:
        log.warning("%d records left pending, to be taken over later: %s", len(entries), why)
        self.stopping.wait(RETRY_WAIT_S)
        return Outcome(retried=len(entries))

    def _answer(self, entries: list[Entry], results: list, version: int | None, dead: dict[str, str]) -> None:
        """Results and dead letters, then the acknowledgement, in one transaction: all or nothing."""
        s = self.settings
        pipe = self.client.pipeline(transaction=True)
        for entry_id, label, probabilities in results:
            answer = {
                REQUEST_ID: entry_id,
                "class": label,
                "probabilities": json.dumps(dict(zip(CLASSES, probabilities.tolist(), strict=True))),
                "model_alias": CHAMPION,
                "model_version": str(version),
                "worker": self.consumer,
            }
            pipe.xadd(s.stream_results, answer, maxlen=s.stream_max_len, approximate=True)
        by_id = {entry.id: entry for entry in entries}
        for entry_id, reason in dead.items():
            fields = by_id[entry_id].fields or {}
            letter = {
                REQUEST_ID: entry_id,
                RECORD: str(fields.get(RECORD, ""))[:10_000],
                "reason": reason,
                "deliveries": str(by_id[entry_id].deliveries),
                "worker": self.consumer,
            }
            pipe.xadd(s.stream_dead, letter, maxlen=s.stream_max_len, approximate=True)
        ids = list(by_id)
        pipe.xack(s.stream_requests, s.stream_group, *ids)
        pipe.xdel(s.stream_requests, *ids)  # answered: the results stream holds what is left of it
        pipe.execute()
        if dead:
            example = next(iter(dead.values()))
            log.warning("%d records dead-lettered to %s, e.g. %s", len(dead), s.stream_dead, example)

    def _write_log(self, ids: list[str], batch: RecordBatch, prediction) -> None:
        """The batch's rows in the prediction log, written before the batch is acknowledged."""
        if self._lake is None:
            from etl.lake import lake_from_settings

            self._lake = lake_from_settings(self.settings)
        plog.write_predictions(
            self._lake,
            self.settings.predictions_bucket,
            log_table(ids, batch, prediction, self.settings.replica_name),
        )

    def _beat(self) -> None:
        path = self.settings.stream_heartbeat_file
        if path is not None:
            path.touch()


def log_table(
    ids: list[str], batch: RecordBatch, prediction: BatchPrediction, replica: str | None = None
) -> pa.Table:
    """Prediction log rows: one per record, request id = its stream entry id (each record is a request),
    `replica` = the worker that scored it."""
    now = time.time()
    answers = [
        LoggedAnswer(
            RecordBatch(batch.numeric[i : i + 1], batch.categorical[i : i + 1]),
            BatchPrediction(
                prediction.model, prediction.labels[i : i + 1], prediction.probabilities[i : i + 1]
            ),
            CHAMPION,
            "stream",
            entry,
            now,
        )
        for i, entry in enumerate(ids)
    ]
    return prediction_log_table(answers, ids, replica)


def _decode(entry: Entry) -> tuple[object, str | None]:
    if not entry.fields or RECORD not in entry.fields:
        return None, f"the entry has no {RECORD!r} field"
    try:
        return json.loads(entry.fields[RECORD]), None
    except ValueError as exc:
        return None, f"the {RECORD!r} field is not JSON: {exc}"


def _concat(batches: list[RecordBatch]) -> RecordBatch:
    numeric = np.vstack([b.numeric for b in batches])
    return RecordBatch(numeric, [row for b in batches for row in b.categorical])


def run_stream_worker(settings: Settings, store: ModelStore | None = None) -> dict:
    """`burnout stream-worker`: serve the stream until SIGTERM or SIGINT; the totals when stopped. `store`:
    the registry (default: MLflow, as the settings say)."""
    from burnout_api.main import MLFLOW_CLIENT_ENV

    for name, value in MLFLOW_CLIENT_ENV.items():
        os.environ.setdefault(name, value)
    # The worker writes its rows to the prediction log itself, before it acknowledges them: not the core.
    if not settings.redis_url:
        raise SettingsError("BURNOUT_REDIS_URL is empty: the stream worker needs the Redis of the stream")
    core = InferenceCore(settings.model_copy(update={"prediction_log_enabled": False}), store=store)
    client = connect(settings, read_timeout_s=settings.stream_block_ms / 1000 + 10)
    worker = StreamWorker(settings, core, client)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _: _stop(worker, signum))
    core.start()
    try:
        totals = worker.run()
    finally:
        core.stop()
        client.close()
    return {"consumer": worker.consumer, "scored": totals.scored, "dead_lettered": totals.dead}


def _stop(worker: StreamWorker, signum: int) -> None:
    log.info("received %s: stopping after the current batch", signal.Signals(signum).name)
    worker.stopping.set()
