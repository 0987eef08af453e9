"""Prometheus metrics of the service, counted once in the core for every protocol and served at /metrics."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Set by burnout_api.workers for its workers: prometheus_client then keeps every value in files of this folder
# (its multiprocess mode), and /metrics, whichever worker answers it, adds up all of them.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Multiprocess mode cannot call a gauge's function at scrape time (the function lives in another worker):
# each worker copies its own values into the gauge this often instead.
SAMPLE_EVERY_S = 1.0

# Single-record answers take tens of microseconds: the buckets start there.
LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
    5.0,
)


class ServiceMetrics:
    """Requests, records, errors and latency by protocol, alias and model version; one registry per core."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = MULTIPROCESS_DIR_ENV in os.environ
        self._sampled: list[tuple[Gauge, Callable[[], int]]] = []
        self._loaded_labels: set[tuple[str, str, str]] = set()
        labels = ("protocol", "alias", "version")
        self._requests = Counter(
            "burnout_predict_requests_total", "Prediction requests answered.", labels, registry=self.registry
        )
        self._records = Counter(
            "burnout_predict_records_total", "Records scored.", labels, registry=self.registry
        )
        self._latency = Histogram(
            "burnout_predict_latency_seconds",
            "Time to validate and score a request.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._errors = Counter(
            "burnout_predict_errors_total",
            "Prediction requests refused or failed.",
            ("protocol", "alias", "kind"),
            registry=self.registry,
        )
        self._loaded = Gauge(
            "burnout_model_loaded",
            "1 for the version each alias serves.",
            ("alias", "version", "family"),
            registry=self.registry,
            multiprocess_mode="livemax",  # served by any worker
        )
        self._mlflow_up = Gauge(
            "burnout_mlflow_reachable",
            "1 when the last registry poll succeeded.",
            registry=self.registry,
            multiprocess_mode="livemin",  # 0 when any worker's last poll failed
        )
        self._children: dict[tuple[str, str, int], tuple] = {}
        self._add_prediction_log_metrics()
        self._add_shadow_metrics()

    def _add_shadow_metrics(self) -> None:
        """Shadow scoring (issue 24): records a challenger scored off the request path, and those it could
        not (queue_full: the shadow queue was full; not_loaded: the alias went away; failed: the model
        raised)."""
        self._shadow_scored = Counter(
            "burnout_shadow_records_total",
            "Records scored in shadow (never answered to a client).",
            ("alias", "version"),
            registry=self.registry,
        )
        self._shadow_dropped = Counter(
            "burnout_shadow_dropped_records_total",
            "Records not scored in shadow, by reason.",
            ("reason",),
            registry=self.registry,
        )
        for reason in ("queue_full", "not_loaded", "failed"):  # shown at 0 from the start
            self._shadow_dropped.labels(reason)
        self._shadow_queue = Gauge(
            "burnout_shadow_queue_records",
            "Records waiting for the shadow model.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def _add_prediction_log_metrics(self) -> None:
        """The prediction log (issue 13): rows written to the lake, and rows lost, never silently."""
        self._log_written = Counter(
            "burnout_prediction_log_rows_total", "Rows written to the prediction log.", registry=self.registry
        )
        self._log_dropped = Counter(
            "burnout_prediction_log_dropped_rows_total",
            "Rows not logged: queue_full (the queue was full) or write_failed (the lake refused every try).",
            ("reason",),
            registry=self.registry,
        )
        for reason in ("queue_full", "write_failed"):  # shown at 0 from the start
            self._log_dropped.labels(reason)
        self._log_write_failures = Counter(
            "burnout_prediction_log_write_failures_total",
            "Failed attempts to write a batch of the prediction log.",
            registry=self.registry,
        )
        self._log_queue = Gauge(
            "burnout_prediction_log_queue_rows",
            "Rows queued or being written.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def observe_success(self, protocol: str, alias: str, version: int, records: int, seconds: float) -> None:
        key = (protocol, alias, version)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds tuples: do it once per label set
            values = (protocol, alias, str(version))
            children = (
                self._requests.labels(*values),
                self._records.labels(*values),
                self._latency.labels(*values),
            )
            self._children[key] = children
        requests, recorded, latency = children
        requests.inc()
        recorded.inc(records)
        latency.observe(seconds)

    def observe_error(self, protocol: str, alias: str, kind: str) -> None:
        self._errors.labels(protocol, alias, kind).inc()

    def set_models(self, served: dict[str, tuple[int, str | None]]) -> None:
        """Alias -> (version, family) now served."""
        current = {(alias, str(version), family or "") for alias, (version, family) in served.items()}
        for labels in self._loaded_labels - current:
            if (
                self.multiprocess
            ):  # the worker's file keeps the series: 0 says this worker no longer serves it
                self._loaded.labels(*labels).set(0)
            else:
                self._loaded.remove(*labels)
        for labels in current:
            self._loaded.labels(*labels).set(1)
        self._loaded_labels = current

    def set_mlflow_reachable(self, reachable: bool) -> None:
        self._mlflow_up.set(1 if reachable else 0)

    def observe_log_written(self, rows: int) -> None:
        self._log_written.inc(rows)

    def observe_log_dropped(self, rows: int, reason: str) -> None:
        self._log_dropped.labels(reason).inc(rows)

    def observe_log_write_failure(self) -> None:
        self._log_write_failures.inc()

    def watch_prediction_log_queue(self, rows: Callable[[], int]) -> None:
        """The queue gauge reads `rows()` when scraped: nothing to update on the hot path."""
        self._watch(self._log_queue, rows)

    def observe_shadow_scored(self, alias: str, version: int, records: int) -> None:
        self._shadow_scored.labels(alias, str(version)).inc(records)

    def observe_shadow_dropped(self, records: int, reason: str) -> None:
        self._shadow_dropped.labels(reason).inc(records)

    def watch_shadow_queue(self, records: Callable[[], int]) -> None:
        self._watch(self._shadow_queue, records)

    def _watch(self, gauge: Gauge, value: Callable[[], int]) -> None:
        if not self.multiprocess:
            gauge.set_function(value)
            return
        self._sampled.append((gauge, value))
        if len(self._sampled) == 1:
            threading.Thread(target=self._sample, name="metrics-sampler", daemon=True).start()

    def _sample(self) -> None:
        while True:
            for gauge, value in list(self._sampled):
                gauge.set(value())
            time.sleep(SAMPLE_EVERY_S)

    def render(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        every_worker = CollectorRegistry()
        multiprocess.MultiProcessCollector(every_worker)
        return generate_latest(every_worker)
