"""Tasks that more than one DAG runs, defined once: each is a few lines around one library call (most of them
a step of pipeline.steps). DAG files import them and only wire them (`run_etl(ingest())`,
`notify_api(promote(...))`). Only DAG files import this module: it is the one place outside the DAGs folder
that needs Airflow.

A task that runs a timed step of the pipeline also keeps its wall time beside its return value (XCom key
`step_seconds`, {name: seconds}), where burnout_pipeline's summarize task reads it (`collect_seconds`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from airflow.sdk import Variable, task

from dag_helpers.defaults import BUDGET_VARIABLES, ETL_TIMEOUT, TRAIN_TIMEOUT

# Not "seconds": a task returning a dict also pushes each of its keys as an XCom (multiple_outputs), and a
# trained model's summary holds "seconds".
SECONDS_KEY = "step_seconds"


def run_timed_step(ti: Any, name: str, fn: Callable[..., Any], /, *args, **kwargs) -> Any:
    """`fn(*args, **kwargs)`, timed as run_pipeline times its steps, the seconds kept under `name` in this
    task's XCom `step_seconds`."""
    from pipeline.run import run_timed

    seconds: dict[str, float] = {}
    result = run_timed(seconds, name, fn, *args, **kwargs)
    ti.xcom_push(key=SECONDS_KEY, value=seconds)
    return result


def record_seconds(ti: Any, name: str, started: float) -> None:
    """Keep the time since `started` (a time.time()) under `name` in this task's XCom `step_seconds`."""
    ti.xcom_push(key=SECONDS_KEY, value={name: round(time.time() - started, 1)})


def collect_seconds(ti: Any, task_ids: list[str]) -> dict[str, float]:
    """Every time `task_ids` (mapped ones included) recorded with record_seconds, in one dict."""
    recorded = ti.xcom_pull(task_ids=task_ids, key=SECONDS_KEY) or []
    return {name: seconds for entry in recorded if entry for name, seconds in entry.items()}


@task(execution_timeout=ETL_TIMEOUT)
def run_etl(after: dict | None = None, params: dict | None = None, ti: Any = None) -> dict:
    """Publish (or reuse) the dataset version of the trigger form's input, else of the lake's raw object.
    `after` only orders the task after an upstream one (the pipeline's ingest)."""
    from burnout_base.settings import get_settings
    from pipeline.steps import prepare_dataset

    return run_timed_step(ti, "etl", prepare_dataset, get_settings(), params)


@task(retries=0)
def choose_budget(params: dict | None = None) -> dict:
    """The tuning budget: the trigger form, else the Airflow Variables, else settings."""
    from burnout_base.settings import get_settings
    from pipeline.steps import choose_budget as choose

    variables = {key: Variable.get(name, default=None) for key, name in BUDGET_VARIABLES.items()}
    return choose(get_settings(), params, variables)


@task(retries=0)
def list_tuning_workers(budget: dict) -> list[int]:
    """The tuning workers' indexes, 0 to K-1: what the tuning tasks are mapped over."""
    return list(range(budget["workers"]))


# Training one family (the pipeline's train_family step) is three tasks around one shared Optuna study (see
# modeling.train): the UI names each mapped instance by its family, a tuning task by its family and worker.
@task(retries=1, map_index_template="{{ task.op_kwargs['family'] }}")
def plan_training(family: str, dataset: dict, budget: dict, params: dict | None = None) -> dict:
    """Create the family's study, starting trial and MLflow run once (or plan to reuse its version when the
    form's `retrain` is off and this dataset version already has one)."""
    from burnout_base.settings import get_settings
    from modeling.train import plan_training as plan

    step_started_at = time.time()  # the family's step starts here: train records the time since
    retrain = params.get("retrain", True)
    planned = plan(family, get_settings(), dataset["dataset_version"], budget, retrain)
    return {**planned, "step_started_at": step_started_at}


@task(
    retries=1,
    execution_timeout=TRAIN_TIMEOUT,
    map_index_template="{{ task.op_kwargs['plan']['family'] }} #{{ task.op_kwargs['worker'] }}",
)
def tune(plan: dict, worker: int) -> dict:
    """One tuning worker of the family's shared study, on whichever Celery worker picks it up."""
    from burnout_base.settings import get_settings
    from modeling.train import tune_share

    return tune_share(plan, get_settings(), worker)


@task(retries=1, execution_timeout=TRAIN_TIMEOUT, map_index_template="{{ task.op_kwargs['plan']['family'] }}")
def train(plan: dict, ti: Any = None) -> dict:
    """Once the family's tuning tasks are done: refit the study's best trial, evaluate and register it."""
    from burnout_base.settings import get_settings
    from modeling.train import register_best

    trained = register_best(plan, get_settings())
    record_seconds(ti, f"train_{plan['family']}", plan["step_started_at"])
    return trained


@task
def notify_api(decision: dict) -> dict:
    """Ask the serving API to reload (skipped with a log line when it is not running)."""
    from burnout_base.settings import get_settings
    from pipeline.steps import reload_api

    return reload_api(get_settings())
