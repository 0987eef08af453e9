"""`burnout stream-worker` (or `python -m burnout_api.stream_worker`): scores the records POST /predict_stream
put on the Redis requests stream, in a process of its own.

Workers share one consumer group, so each record goes to one of them, and `--scale stream-worker=N` adds
workers. A worker reads a batch and scores it through the inference core's `predict` as one batch (protocol
"stream"): the same validation, metrics, prediction log and hot-swapped champion as REST, GraphQL and gRPC.
Records the validation refuses are dead-lettered with its words, the others scored without them. Then, in one
transaction, it adds the answers to the results stream and the records it cannot score (with the reason) to
the dead-letter stream, acknowledges and deletes the batch. Delivery is at least once: a worker that dies
before that transaction leaves its batch pending, and another worker takes it over (XAUTOCLAIM) once it has
been idle for `stream_claim_idle_s`; a record delivered `stream_max_deliveries` times without an answer is
dead-lettered. The core's metrics are served on their own port (`serve_metrics`).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass

import redis

from burnout_api.core import CHAMPION, InferenceCore, InvalidInput, ModelUnavailable, NoModelYet
from burnout_api.core.model_store import MLFLOW_CLIENT_ENV, ModelStore
from burnout_api.record_stream import RECORD, REQUEST_ID, connect, describe_url
from burnout_api.validation import FieldError
from burnout_base.settings import Settings, SettingsError, get_settings
from etl.contract import CLASSES

log = logging.getLogger(__name__)
RETRY_WAIT_S = 2.0  # after Redis failed, or while there is no champion


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
    retried: int = 0  # left pending (no champion, or MLflow unreachable): taken over later


@dataclass(frozen=True)
class Answer:
    """One record's result, as the results stream carries it."""

    entry_id: str
    label: str
    probabilities: list[float]
    version: int


class StreamWorker:
    """One consumer of the requests stream's group (`consumer` unique per process: hostname-pid)."""

    def __init__(self, settings: Settings, core: InferenceCore, client: redis.Redis, consumer: str = ""):
        self.settings, self.core, self.client = settings, core, client
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        # One read is one call of the core, which refuses more than max_batch records.
        self.batch_size = min(settings.stream_batch_size, settings.max_batch)
        self.stopping = threading.Event()
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
            count=self.batch_size,
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
            count=self.batch_size,
            block=s.stream_block_ms,
        )
        return [Entry(entry_id, fields) for _, messages in reply or [] for entry_id, fields in messages]

    def handle(self, entries: list[Entry]) -> Outcome:
        """Score, answer and acknowledge one batch (or leave it pending when it cannot be scored now)."""
        dead: dict[str, str] = {}
        readable: list[tuple[str, object]] = []  # (entry id, decoded record)
        for entry in entries:
            if entry.deliveries > self.settings.stream_max_deliveries:
                dead[entry.id] = (
                    f"delivered {entry.deliveries} times without an answer (its workers died or failed)"
                )
                continue
            record, reason = _decode(entry)
            if reason is None:
                readable.append((entry.id, record))
            else:
                dead[entry.id] = reason
        try:
            answers = self.score(readable, dead) if readable else []
        except (NoModelYet, ModelUnavailable) as exc:
            return self._leave_pending(entries, f"no champion to score with: {exc}")
        self._answer(entries, answers, dead)
        return Outcome(scored=len(answers), dead=len(dead))

    def score(self, readable: list[tuple[str, object]], dead: dict[str, str]) -> list[Answer]:
        """The records scored by the core as one batch, each logged under its entry id. Records the validation
        refuses go to `dead` with its words, and the rest is sent again without them; when the model fails on
        the batch, it is scored record by record, so that only the records it cannot score are dead-lettered.
        NoModelYet and ModelUnavailable propagate: the batch waits for a champion."""
        while readable:
            ids, records = [entry_id for entry_id, _ in readable], [record for _, record in readable]
            try:
                prediction = self.core.predict(records, None, "stream", request_id=ids)  # champion or canary
            except InvalidInput as exc:
                refused = _reasons_by_record(exc.errors, len(readable))
                dead.update((readable[i][0], reason) for i, reason in refused.items())
                readable = [pair for i, pair in enumerate(readable) if i not in refused]
                continue
            except (NoModelYet, ModelUnavailable):
                raise
            except Exception as exc:
                log.warning("a batch of %d records failed, scoring them one by one: %s", len(ids), exc)
                return self._score_one_by_one(readable, dead)
            return [
                Answer(entry_id, label, probabilities, prediction.version_of(i))
                for i, (entry_id, label, probabilities) in enumerate(
                    zip(ids, prediction.labels, prediction.probabilities.tolist(), strict=True)
                )
            ]
        return []

    def _score_one_by_one(self, readable: list[tuple[str, object]], dead: dict[str, str]) -> list[Answer]:
        answers = []
        for entry_id, record in readable:
            try:
                prediction = self.core.predict([record], None, "stream", request_id=[entry_id])
            except (NoModelYet, ModelUnavailable):
                raise
            except Exception as exc:
                dead[entry_id] = f"the model could not score it: {type(exc).__name__}: {exc}"[:1000]
                continue
            label, probabilities = prediction.labels[0], prediction.probabilities[0].tolist()
            answers.append(Answer(entry_id, label, probabilities, prediction.version_of(0)))
        return answers

    def _leave_pending(self, entries: list[Entry], why: str) -> Outcome:
        log.warning("%d records left pending, to be taken over later: %s", len(entries), why)
        self.stopping.wait(RETRY_WAIT_S)
        return Outcome(retried=len(entries))

    def _answer(self, entries: list[Entry], answers: list[Answer], dead: dict[str, str]) -> None:
        """Results and dead letters, then the acknowledgement, in one transaction: all or nothing."""
        s = self.settings
        pipe = self.client.pipeline(transaction=True)
        for answer in answers:
            result = {
                REQUEST_ID: answer.entry_id,
                "class": answer.label,
                "probabilities": json.dumps(dict(zip(CLASSES, answer.probabilities, strict=True))),
                "model_alias": CHAMPION,
                "model_version": str(answer.version),
                "worker": self.consumer,
            }
            pipe.xadd(s.stream_results, result, maxlen=s.stream_max_len, approximate=True)
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

    def _beat(self) -> None:
        path = self.settings.stream_heartbeat_file
        if path is not None:
            path.touch()


def _decode(entry: Entry) -> tuple[object, str | None]:
    if not entry.fields or RECORD not in entry.fields:
        return None, f"the entry has no {RECORD!r} field"
    try:
        return json.loads(entry.fields[RECORD]), None
    except ValueError as exc:
        return None, f"the {RECORD!r} field is not JSON: {exc}"


def _reasons_by_record(errors: list[FieldError], count: int) -> dict[int, str]:
    """Batch index -> what is wrong with that record, in the validation's words without the index (every
    record is a request of its own). An error of the whole batch, unexpected here, refuses every record."""
    reasons: dict[int, list[str]] = {}
    for error in errors:
        where = f"field {error.field!r}: " if error.field is not None else ""
        indexes = range(count) if error.record is None else [error.record]
        for index in indexes:
            reasons.setdefault(index, []).append(where + error.message)
    return {index: "; ".join(found) for index, found in reasons.items()}


def serve_metrics(core: InferenceCore, host: str, port: int):
    """The core's Prometheus metrics at http://<host>:<port>/metrics in a background thread; None when `port`
    is 0 or taken (a second worker on one machine): scoring matters more than its metrics."""
    from prometheus_client import start_http_server

    if port == 0:
        return None
    try:
        server, _ = start_http_server(port, addr=host, registry=core.metrics.registry)
    except OSError as exc:
        log.warning("metrics not served: port %d on %s is not free (%s)", port, host, exc)
        return None
    log.info("metrics at http://%s:%d/metrics", host, port)
    return server


def run_stream_worker(
    settings: Settings, store: ModelStore | None = None, metrics_port: int | None = None
) -> dict:
    """`burnout stream-worker`: serve the stream until SIGTERM or SIGINT; the totals when stopped. `store`:
    the registry (default: MLflow, as the settings say); `metrics_port`: default the settings'."""
    for name, value in MLFLOW_CLIENT_ENV.items():
        os.environ.setdefault(name, value)
    if not settings.redis_url:
        raise SettingsError("BURNOUT_REDIS_URL is empty: the stream worker needs the Redis of the stream")
    core = InferenceCore(settings, store=store)
    client = connect(settings, read_timeout_s=settings.stream_block_ms / 1000 + 10)
    worker = StreamWorker(settings, core, client)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _: _stop(worker, signum))
    port = settings.stream_worker_metrics_port if metrics_port is None else metrics_port
    metrics = serve_metrics(core, settings.api_host, port)
    core.start()
    try:
        totals = worker.run()
    finally:
        core.stop()  # writes the prediction log's queue (bounded)
        client.close()
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()
    return {"consumer": worker.consumer, "scored": totals.scored, "dead_lettered": totals.dead}


def _stop(worker: StreamWorker, signum: int) -> None:
    log.info("received %s: stopping after the current batch", signal.Signals(signum).name)
    worker.stopping.set()


def main() -> None:
    """`python -m burnout_api.stream_worker`: the worker with the environment's settings; the totals are
    logged when it stops."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run_stream_worker(get_settings())
    except SettingsError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
