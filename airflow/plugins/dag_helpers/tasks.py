"""Tasks that more than one DAG runs, defined once: each is a few lines around one library call. DAG files
import them and only wire them (`run_etl(ingest())`, `notify_api(promote(...))`). Only DAG files import
this module: it is the one place outside the DAGs folder that needs Airflow."""

from __future__ import annotations

from airflow.sdk import Variable, task

from dag_helpers.defaults import BUDGET_VARIABLES, ETL_TIMEOUT, TRAIN_TIMEOUT


@task(execution_timeout=ETL_TIMEOUT)
def run_etl(after: dict | None = None, params: dict | None = None) -> dict:
    """Publish (or reuse) the dataset version of the trigger form's input, else of the lake's raw object.
    `after` only orders the task after an upstream one (the pipeline's ingest)."""
    from burnout_base.plain import to_plain
    from burnout_base.settings import get_settings
    from etl.run_etl import run_etl as run

    return to_plain(run(params["input"] or None, get_settings()))


@task(retries=0)
def choose_budget(params: dict | None = None) -> dict:
    """The tuning budget: the trigger form, else the Airflow Variables, else settings."""
    from burnout_base.settings import get_settings
    from modeling.budget import resolve_budget

    variables = {key: Variable.get(name, default=None) for key, name in BUDGET_VARIABLES.items()}
    return resolve_budget(
        get_settings(), params["trials"], params["timeout_s"], variables, params["tuning_workers"]
    )


@task(retries=0)
def list_tuning_workers(budget: dict) -> list[int]:
    """The tuning workers' indexes, 0 to K-1: what the tuning tasks are mapped over."""
    return list(range(budget["workers"]))


# Training one family is three tasks around one shared Optuna study (see modeling.train): the UI names each
# mapped instance by its family, and a tuning task by its family and worker index.
@task(retries=1, map_index_template="{{ task.op_kwargs['family'] }}")
def plan_training(family: str, dataset: dict, budget: dict, params: dict | None = None) -> dict:
    """Create the family's study, starting trial and MLflow run once (or plan to reuse its version when the
    form's `retrain` is off and this dataset version already has one)."""
    from burnout_base.settings import get_settings
    from modeling.train import plan_training as plan

    retrain = params.get("retrain", True)
    return plan(family, get_settings(), dataset["dataset_version"], budget, retrain)


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
def train(plan: dict) -> dict:
    """Once the family's tuning tasks are done: refit the study's best trial, evaluate and register it."""
    from burnout_base.settings import get_settings
    from modeling.train import register_best

    return register_best(plan, get_settings())


@task
def notify_api(decision: dict) -> dict:
    """Ask the serving API to reload (skipped with a log line when it is not running)."""
    from burnout_base.settings import get_settings
    from pipeline.reload_api import notify_reload

    return notify_reload(get_settings())
