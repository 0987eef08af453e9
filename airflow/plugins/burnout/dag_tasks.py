"""Tasks that more than one DAG runs, defined once: each is a few lines around one library call. DAG files
import them and only wire them (`run_etl(ingest())`, `notify_api(promote(...))`). Only DAG files import
this module: it is the one place outside the DAGs folder that needs Airflow."""

from __future__ import annotations

from airflow.sdk import Variable, task

from burnout.dag_defaults import BUDGET_VARIABLES, ETL_TIMEOUT


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
    return resolve_budget(get_settings(), params["trials"], params["timeout_s"], variables)


@task
def notify_api(decision: dict) -> dict:
    """Ask the serving API to reload (skipped with a log line when it is not running)."""
    from burnout.notify import notify_reload
    from burnout_base.settings import get_settings

    return notify_reload(get_settings())
