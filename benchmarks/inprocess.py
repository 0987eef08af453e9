"""The reference: the same model called in this process, without any server, for 1 and 1,000 rows."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd
import psutil

from benchmarks.cases import BATCH_ROWS, FAST_PATH, INPROC_1, INPROC_1000, PIPELINE
from benchmarks.measurement import Measurement, summarize_latencies

log = logging.getLogger(__name__)


def time_calls(
    setting: str, server: str, call: Callable[[], object], seconds: float, rows: int, warmup_calls: int = 3
) -> Measurement:
    """Call `call` back to back for about `seconds` (at least 5 calls); latency per call and this process's
    CPU."""
    for _ in range(warmup_calls):
        call()
    me = psutil.Process(os.getpid())
    cpu_before, started = sum(me.cpu_times()[:2]), time.perf_counter()
    latencies: list[float] = []
    deadline = started + seconds
    while time.perf_counter() < deadline or len(latencies) < 5:
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - started
    cpu = 100.0 * (sum(me.cpu_times()[:2]) - cpu_before) / wall
    result = summarize_latencies(setting, server, latencies, wall, cpu_percent=cpu, rows_per_request=rows)
    log.info("%s (%s): %.1f calls/s, p50 %.3f ms", setting, server, result.rps, result.p50_ms)
    return result


def measure_in_process(pipeline, records: pd.DataFrame, seconds: float) -> list[Measurement]:
    """Probabilities for 1 row and for 1,000 rows, already in memory: through the model's own `predict_proba`
    on a DataFrame, and through our service's fast path on validated arrays when the model has one (records
    with missing values included, as in the service)."""
    one, batch = records.iloc[[0]], records.iloc[:BATCH_ROWS]
    if len(batch) != BATCH_ROWS:
        raise ValueError(f"need {BATCH_ROWS} records, got {len(batch)}")
    results = [
        time_calls(INPROC_1, PIPELINE, lambda: pipeline.predict_proba(one), seconds, 1),
        time_calls(INPROC_1000, PIPELINE, lambda: pipeline.predict_proba(batch), seconds, BATCH_ROWS),
    ]
    loaded = load_core_model(pipeline)
    if loaded.fast is None:
        log.warning("the service has no fast path for this model: only the pipeline is measured in-process")
        return results
    one_batch, big_batch = as_record_batch(one), as_record_batch(batch)
    results += [
        time_calls(INPROC_1, FAST_PATH, lambda: loaded.predict_model_proba(one_batch), seconds, 1),
        time_calls(
            INPROC_1000, FAST_PATH, lambda: loaded.predict_model_proba(big_batch), seconds, BATCH_ROWS
        ),
    ]
    return results


def load_core_model(pipeline):
    """The service's own wrapper around a pipeline (it compiles and checks the fast path)."""
    from burnout_api.core.loaded_model import LoadedModel, ModelMetadata

    metadata = ModelMetadata(
        version=0,
        family=None,
        run_id=None,
        dataset_version=None,
        test_metrics={},
        loaded_at=datetime.now(UTC),
    )
    return LoadedModel(pipeline, metadata)


def as_record_batch(records: pd.DataFrame):
    """Validate records the way the service does (a JSON round trip gives the same Python values it
    receives)."""
    from benchmarks.records import service_body
    from burnout_api.validation import validate_records

    return validate_records(json.loads(service_body(records)), max_batch=len(records))
