"""`make bench`: our service against MLflow's scoring server and MLServer on the champion, side by side in one
run, the fixed-response ceiling of our stack, the in-process reference, optionally the pipeline's times; one
table saved under BURNOUT_HOME/bench/, and the cost curves (benchmarks/curves.py) plotted beside it."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.balancer_cost import measure_balancer_cost
from benchmarks.cases import BATCH_ROWS, add_ratios, evaluate_targets
from benchmarks.champion import ensure_champion
from benchmarks.curves import BATCH_SIZES, MLSERVER_POINT_S, point_seconds
from benchmarks.etl_memory import memory_targets, run_etl_memory_bench
from benchmarks.explain_latency import load_registered_lightgbm, measure_explanation_latency
from benchmarks.h2load import find_h2load
from benchmarks.inprocess import measure_in_process
from benchmarks.load import find_wrk
from benchmarks.machine import describe_machine
from benchmarks.pipeline_bench import run_pipeline_bench
from benchmarks.prediction_log_cost import measure_prediction_log_cost
from benchmarks.readme_summary import README, update_readme
from benchmarks.records import SINGLE_RECORDS, load_sample_records, missing_share
from benchmarks.report import format_table, is_full_run, save_report
from benchmarks.score_memory import run_score_memory_bench, score_memory_targets
from benchmarks.serving import measure_servers, service_workers, warmup_seconds
from benchmarks.shadow_cost import measure_shadow_cost, shadow_targets
from benchmarks.tuning_spread import run_tuning_spread_bench
from benchmarks.worker_scaling import measure_worker_scaling
from burnout_base.settings import Settings
from etl.errors import InputError

log = logging.getLogger(__name__)


def run_bench(
    settings: Settings,
    seconds: float = 20.0,
    pipeline: bool = True,
    dataset: Path | None = None,
    etl: bool = True,
    mlserver_venv: Path | None = None,
) -> dict:
    """Measure every setting for about `seconds` each (after a warm-up) and, with `pipeline`, run the whole
    pipeline once at the configured budget in a separate home (minutes). `dataset` is the CSV to train on when
    needed (default: the real dataset beside the project, else synthetic). With `etl`, also measure the ETL's
    time and peak memory on that dataset and on a 100 times larger copy (a minute), and `burnout score`'s on
    1 M and 2 M rows against the previous whole-file read (minutes). `mlserver_venv`: where
    MLServer's virtualenv is kept (default BURNOUT_HOME/bench/mlserver/venv, installed on first use).
    Returns the result written to `<home>/bench/latest.json` (also latest.md, curves.json and its plots)."""
    if not seconds > 0:
        raise InputError(f"seconds must be positive, got {seconds}")
    if find_wrk() is None or find_h2load() is None:
        raise FileNotFoundError(
            "wrk and h2load are needed: run `make system-deps` (apt-get install wrk nghttp2-client)"
        )
    settings.ensure_home()
    folder = settings.home / "bench"
    machine, started_at = describe_machine(), _now()
    champion = ensure_champion(settings, folder, dataset)
    log.info("benchmarking model version %s (%s)", champion["version"], champion["family"])
    records, source = load_sample_records(settings, champion["dataset_version"], max(BATCH_SIZES))
    model = _load_pipeline(settings, champion["version"])
    measurements, checks, curve_points = measure_servers(
        settings, champion["version"], records, seconds, folder / "work", model, mlserver_venv
    )
    measurements += measure_prediction_log_cost(
        settings, records, seconds, warmup_seconds(seconds), folder / "work"
    )
    measurements += measure_balancer_cost(
        settings, records, seconds, warmup_seconds(seconds), folder / "work"
    )
    shadow_figures = measure_shadow_cost(settings, records, seconds, warmup_seconds(seconds), folder / "work")
    # The service's compiled cache: the compiled trees are built once, not on every run.
    measurements += measure_in_process(model, records, seconds / 4, settings.compiled_cache_dir)
    lightgbm = model if champion["family"] == "lightgbm" else load_registered_lightgbm(settings)
    if lightgbm is None:
        log.warning("the registry has no lightgbm alias: explanation latency not measured")
    else:
        measurements += measure_explanation_latency(lightgbm, records, settings)
    workers = service_workers(settings)
    measurements += measure_worker_scaling(
        settings, records, seconds, warmup_seconds(seconds), folder / "work"
    )
    rows = add_ratios([m.to_dict() for m in measurements])
    pipeline_figures = run_pipeline_bench(settings, folder, dataset) if pipeline else None
    # Training figures, like the pipeline's: minutes, so they come with it.
    tuning_figures = run_tuning_spread_bench(settings, folder, dataset) if pipeline else None
    etl_figures = run_etl_memory_bench(settings, folder, dataset) if etl else None
    score_figures = run_score_memory_bench(settings, folder, dataset) if etl else None
    result = {
        "started_at": started_at,
        "finished_at": _now(),
        "model_version": champion["version"],
        "family": champion["family"],
        "dataset_version": champion["dataset_version"],
        "records": {
            "source": source,
            "missing_share_single": missing_share(records.iloc[:SINGLE_RECORDS]),
            "missing_share_batch": missing_share(records.iloc[:BATCH_ROWS]),
        },
        "seconds_per_setting": seconds,
        "api_workers": workers,  # our service's processes in the serving rows; MLServer's inference workers
        "curves": {
            "point_seconds": point_seconds(seconds),
            "mlserver_point_seconds": MLSERVER_POINT_S,
            "points": curve_points,
        },
        "answers": checks,
        "rows": rows,
        "targets": (memory_targets(etl_figures) + score_memory_targets(score_figures) if etl else [])
        + evaluate_targets(rows, pipeline_figures, workers)
        + shadow_targets(shadow_figures),
        "pipeline": pipeline_figures,
        "shadow_cost": shadow_figures,
        "tuning_spread": tuning_figures,
        "etl_memory": etl_figures,
        "score_memory": score_figures,
        "machine": machine,
        "load_average_after": round(os.getloadavg()[0], 2),
    }
    result["files"] = save_report(result, folder)
    if is_full_run(result) and update_readme(README, result):
        result["files"]["readme"] = str(README)
    log.info("benchmark results:\n%s", format_table(rows))
    for target in result["targets"]:
        if target["met"] is not True:
            log.warning(
                "target %s (%s): measured %s%s",
                "missed" if target["met"] is False else "not measured",
                target["target"],
                target["measured"],
                f" ({target['note']})" if target["note"] else "",
            )
    return result


def _load_pipeline(settings: Settings, version: int):
    from burnout_base.tracking import configure_mlflow
    from modeling.model_io import load_model

    configure_mlflow(settings)
    return load_model(f"models:/{settings.registered_model_name}/{version}")


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
