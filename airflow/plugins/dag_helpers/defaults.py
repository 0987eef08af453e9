"""What every DAG of the project shares, as plain data (no Airflow import): owner, start date, the processed
dataset's asset name, the trigger form's budget fields (their descriptions quote the settings' defaults), the
retry policy of tasks that touch the network, and callbacks that log a task's retries and final failure in one
clear line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from burnout_base.settings import describe_seconds, setting_default
from modeling.budget import MAX_TUNING_WORKERS

TASK_FAILURE_LOGGER = "burnout.dags"
log = logging.getLogger(TASK_FAILURE_LOGGER)

OWNER = "burnout-mlops"
START_DATE = datetime(2025, 1, 1, tzinfo=UTC)
# The processed dataset: etl_mlflow declares it as outlet, the training DAGs are scheduled on it.
PROCESSED_DATASET_ASSET = "burnout_processed_dataset"
# Drift past the thresholds: drift_monitor declares it as outlet, burnout_pipeline is scheduled on it.
DRIFT_ASSET = "burnout_drift"
# Live quality evidence worth acting on: model_quality declares it as outlet, burnout_pipeline is scheduled on
# it too (either asset triggers a run).
QUALITY_ASSET = "burnout_live_quality"
# Airflow Variables that override the tuning budget of settings (the trigger form overrides both).
BUDGET_VARIABLES = {
    "trials": "burnout_tuning_trials",
    "timeout_s": "burnout_tuning_timeout_s",
    "workers": "burnout_tuning_workers",
}


# The budget fields of the trigger form, as keyword arguments of airflow.sdk.Param.
BUDGET_PARAMS: dict[str, dict[str, Any]] = {
    "trials": {
        "default": None,
        "type": ["null", "integer"],
        "minimum": 1,
        "title": "Optuna trials",
        "description": "Per family; empty = Airflow Variable burnout_tuning_trials, else "
        f"BURNOUT_TUNING_TRIALS (default {setting_default('tuning_trials')}; `burnout demo` asks for "
        f"{setting_default('demo_trials')}).",
    },
    "timeout_s": {
        "default": None,
        "type": ["null", "number"],
        "exclusiveMinimum": 0,
        "title": "Tuning timeout (s)",
        "description": "Per family; empty = Variable burnout_tuning_timeout_s, else BURNOUT_TUNING_TIMEOUT_S "
        f"(default {describe_seconds(setting_default('tuning_timeout_s'))}).",
    },
    "tuning_workers": {
        "default": None,
        "type": ["null", "integer"],
        "minimum": 1,
        "maximum": MAX_TUNING_WORKERS,
        "title": "Tuning workers",
        "description": "Tasks per family sharing its Optuna study, on any Celery worker; the trials and the "
        "timeout bound the study, not each task. Empty = Variable burnout_tuning_workers, else "
        f"BURNOUT_TUNING_WORKERS (default {setting_default('tuning_workers')}; compose sets 2).",
    },
}
# The trigger form's input field, shared by the DAGs that run the ETL.
INPUT_PARAM: dict[str, Any] = {
    "default": None,
    "type": ["null", "string"],
    "title": "Input",
    "description": "CSV path or s3://bucket/key; empty = the raw object in the lake.",
}
ETL_TIMEOUT = timedelta(hours=1)
TRAIN_TIMEOUT = timedelta(hours=3)
PIPELINE_TIMEOUT = timedelta(hours=4)
DRIFT_TIMEOUT = timedelta(hours=1)
QUALITY_TIMEOUT = timedelta(hours=1)


def date_param(title: str, description: str):
    """An optional YYYY-MM-DD trigger-form parameter (the monitors' window ends)."""
    from airflow.sdk import Param

    return Param(None, type=["null", "string"], format="date", title=title, description=description)


def common_dag_arguments(timeout: timedelta) -> dict[str, Any]:
    """The `dag(...)` arguments every DAG of the project shares: one run at a time, no catch-up, a timeout."""
    return {
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "dagrun_timeout": timeout,
        "default_args": task_defaults(),
    }


def task_defaults(retries: int = 3, retry_delay: timedelta = timedelta(seconds=30)) -> dict[str, Any]:
    """default_args for tasks that talk to the lake, MLflow or the API: retried with exponential backoff."""
    return {
        "owner": OWNER,
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "on_retry_callback": log_task_retry,
        "on_failure_callback": log_task_failure,
    }


def log_task_retry(context: dict[str, Any]) -> None:
    """Say which task failed, why, and that it will be retried."""
    ti, error = context.get("ti"), context.get("exception")
    log.warning(
        "task %s.%s failed on try %s (%s); retrying with backoff",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        getattr(ti, "try_number", "?"),
        _describe(error),
    )


def log_task_failure(context: dict[str, Any]) -> None:
    """Say which task gave up, after how many tries, and why: the line to read when a run fails."""
    ti, error = context.get("ti"), context.get("exception")
    log.error(
        "task %s.%s FAILED after %s tries: %s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        getattr(ti, "try_number", "?"),
        _describe(error),
    )


def _describe(error: BaseException | None) -> str:
    return "unknown error" if error is None else f"{type(error).__name__}: {error}"
