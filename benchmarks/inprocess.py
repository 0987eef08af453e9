"""The reference: the same model called in this process, without any server, for 1 and 1,000 rows; for a
LightGBM model also its compiled trees against LightGBM's own predict (see `modeling.compiled_trees`)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import psutil

from benchmarks.cases import (
    BATCH_ROWS,
    COMPILED_TREES,
    FAST_PATH,
    INPROC_1,
    INPROC_1000,
    LIGHTGBM_PREDICT,
    PIPELINE,
)
from benchmarks.measurement import Measurement, summarize_latencies

log = logging.getLogger(__name__)
FAST_PATH_COMPILED = "fast path, compiled trees"  # the service's core scoring through the compiled trees


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


def measure_in_process(
    pipeline, records: pd.DataFrame, seconds: float, cache_dir: Path | None = None
) -> list[Measurement]:
    """Probabilities for 1 row and for 1,000 rows, already in memory: through the model's own `predict_proba`
    on a DataFrame, and through our service's fast path on validated arrays when the model has one (records
    with missing values included, as in the service); for a LightGBM model, then with its compiled trees
    (from `cache_dir`, the service's cache, else compiled here: a minute)."""
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
    return results + measure_compiled_trees(loaded, one_batch, big_batch, seconds, cache_dir)


def measure_compiled_trees(loaded, one_batch, big_batch, seconds: float, cache_dir: Path | None) -> list:
    """A LightGBM model's compiled trees against LightGBM's predict on the same preprocessed 1,000 rows, then
    the service's core scoring through them (replay and compiled trees) for 1 and 1,000 rows."""
    from modeling.compiled_trees import lightgbm_booster, load_compiled_trees

    booster = lightgbm_booster(loaded.pipeline)
    if booster is None:
        return []
    with tempfile.TemporaryDirectory() as scratch:  # the loaded code outlives its file
        compiled = load_compiled_trees(booster.model_to_string(), cache_dir or Path(scratch), version=0)
    matrix = loaded.fast.transform(big_batch.numeric, big_batch.categorical)
    error = float(abs(compiled.predict_proba(matrix) - booster.predict(matrix, num_threads=1)).max())
    log.info("compiled trees against LightGBM on %d rows: largest difference %.3g", len(matrix), error)
    results = [
        time_calls(
            INPROC_1000, LIGHTGBM_PREDICT, lambda: booster.predict(matrix, num_threads=1), seconds, BATCH_ROWS
        ),
        time_calls(INPROC_1000, COMPILED_TREES, lambda: compiled.predict_proba(matrix), seconds, BATCH_ROWS),
    ]
    if not loaded.use_compiled_trees(compiled):
        log.warning("the compiled trees disagree with the pipeline: the core is not measured with them")
        return results
    return results + [
        time_calls(INPROC_1, FAST_PATH_COMPILED, lambda: loaded.predict_model_proba(one_batch), seconds, 1),
        time_calls(
            INPROC_1000,
            FAST_PATH_COMPILED,
            lambda: loaded.predict_model_proba(big_batch),
            seconds,
            BATCH_ROWS,
        ),
    ]


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
