"""The whole flow in one run: ingest, ETL, three families in parallel, their ensemble, promotion, reload and
one summary. Each task runs a step of pipeline.steps, the steps `burnout pipeline` runs in one process."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, Param, dag, task

from burnout_base.settings import setting_default
from dag_helpers.defaults import (
    BUDGET_PARAMS,
    DRIFT_ASSET,
    INPUT_PARAM,
    PIPELINE_TIMEOUT,
    QUALITY_ASSET,
    TRAIN_TIMEOUT,
    common_dag_arguments,
)
from dag_helpers.tasks import (
    choose_budget,
    collect_seconds,
    list_tuning_workers,
    notify_api,
    plan_training,
    run_etl,
    run_timed_step,
    train,
    tune,
)
from modeling.families import FAMILIES

# The tasks that keep a step's seconds (dag_helpers.tasks.run_timed_step, record_seconds) for summarize.
TIMED_TASKS = ["ingest", "run_etl", "train", "train_ensemble", "promote"]


@task
def ingest(params: dict | None = None, ti: Any = None) -> dict:
    from burnout_base.settings import get_settings
    from pipeline import steps

    return run_timed_step(ti, "ingest", steps.ingest, get_settings(), params)


@task(retries=1, execution_timeout=TRAIN_TIMEOUT)
def train_ensemble(dataset: dict, trained: list[dict], params: dict | None = None, ti: Any = None) -> dict:
    from burnout_base.settings import get_settings
    from pipeline import steps

    del trained  # only ordering: the ensemble votes with the versions the families just registered
    return run_timed_step(ti, "train_ensemble", steps.train_ensemble, get_settings(), params, dataset)


@task
def promote(trained: list[dict], ensemble: dict, params: dict | None = None, ti: Any = None) -> dict:
    # promote reads the candidates from the registry aliases; `trained` and `ensemble` only order this task.
    from burnout_base.settings import get_settings
    from pipeline import steps

    return run_timed_step(ti, "promote", steps.promote, get_settings(), params or {})


@task
def summarize(
    dataset: dict,
    trained: list[dict],
    ensemble: dict,
    promotion: dict,
    api_reload: dict,
    ti: Any = None,
    dag_run: Any = None,
) -> dict:
    """The summary `burnout pipeline` prints, with the seconds the tasks recorded; total is since the run
    started, so it also holds the time tasks waited for a worker."""
    from burnout_base.settings import get_settings
    from pipeline import steps

    return steps.summarize(
        get_settings(),
        dataset=dataset,
        families={summary["family"]: summary for summary in trained},
        ensemble=ensemble,
        promotion=promotion,
        api_reload=api_reload,
        seconds=collect_seconds(ti, TIMED_TASKS),
        started_at=dag_run.start_date.timestamp(),
    )


@dag(
    dag_id="burnout_pipeline",
    # By hand, and when drift_monitor finds drift or model_quality finds live evidence worth acting on (either
    # asset): a retraining on the latest raw data, then promotion (on live evidence first, when it is on).
    schedule=Asset(DRIFT_ASSET) | Asset(QUALITY_ASSET),
    # Active from the start: an asset consumer left paused (the stack pauses new DAGs) would never retrain.
    is_paused_upon_creation=False,
    **common_dag_arguments(PIPELINE_TIMEOUT),
    tags=["burnout", "pipeline", "etl", "training"],
    params={
        **{name: Param(**spec) for name, spec in BUDGET_PARAMS.items()},
        "input": Param(**INPUT_PARAM),
        "retrain": Param(
            False,
            type="boolean",
            title="Retrain",
            description="Train a family even if this dataset version already has a model of it.",
        ),
        "promote_on_live_evidence": Param(
            None,
            type=["null", "boolean"],
            title="Promote on live evidence",
            description="Before the offline rule, promote the challenger if the paired live evidence "
            "(predictions with feedback) surely favours it; empty = BURNOUT_PROMOTE_ON_LIVE_EVIDENCE "
            f"(default {setting_default('promote_on_live_evidence')}).",
        ),
    },
)
def burnout_pipeline():
    """
    ### burnout_pipeline: from the CSV to a served champion, in one run

    1. **ingest**: uploads the dataset from `data/` to the raw bucket if it is not there yet (a synthetic
       dataset with the real schema is generated first when `data/` holds no CSV).
    2. **run_etl**: validates, quarantines bad rows, cleans, splits, fits the preprocessor on TRAIN and
       publishes the content-hashed dataset version (an existing version is reused, never duplicated).
    3. **plan_training**, **tune**, **train**: LightGBM, KNN and SVM in parallel. For each family,
       plan_training creates its Optuna study (with the starting trial) and MLflow run once; K mapped tune
       tasks per family (**tuning_workers**) share the study on any Celery worker, each sampling with its
       own seed, until the study holds the trial budget; train then refits the study's best trial (K-fold
       CV on TRAIN), evaluates it once on TEST and registers it as `burnout-risk` with the family's alias.
       A family that already has a model for this dataset version is reused unless **retrain** is set.
    4. **train_ensemble**: a weighted soft vote of the three registered models, its weights chosen on their
       out-of-fold probabilities on TRAIN, registered with alias `ensemble` (reused, unless **retrain** is
       set, while the families it votes with are unchanged).
    5. **promote**: with **promote_on_live_evidence** (empty = `BURNOUT_PROMOTE_ON_LIVE_EVIDENCE`), first
       the live rule: the `challenger` takes `champion` when at least `BURNOUT_LIVE_PROMOTION_MIN_ROWS` paired
       predictions with feedback back it and their difference's 95 % interval is above 0 (recorded as a
       `promotion` run, rule "live evidence"). Otherwise the best candidate (families and ensemble) takes
       alias `champion` only if it beats the incumbent on TEST, and the best candidate that is not the
       champion takes `challenger`. The result's `live_evidence` says what the live rule saw and did.
    6. **notify_api**: asks the serving API to reload (skipped with a log line when it is not running; the
       API also polls the aliases on its own).
    7. **summarize**: the run's summary, in the shape `burnout pipeline` prints (dataset_version, champion,
       promotion, families, etl, api_reload, seconds).

    The steps are pipeline.steps.STEPS: `burnout pipeline` runs the same ones in one process.

    Runs when triggered by hand and when `drift_monitor` updates the asset `burnout_drift` or `model_quality`
    the asset `burnout_live_quality` (then with the form's defaults: the raw data in the lake, families reused
    when that dataset version already has them).

    The tuning budget per family comes from the trigger form, else the Airflow Variables
    `burnout_tuning_trials` / `burnout_tuning_timeout_s` / `burnout_tuning_workers`, else settings
    (`BURNOUT_TUNING_*`).
    """

    dataset = run_etl(ingest())
    budget = choose_budget()
    plans = plan_training.partial(dataset=dataset, budget=budget).expand(family=list(FAMILIES))
    # Every family's K workers at once (families x workers); a family registers after all the tuning.
    tuned = tune.expand(plan=plans, worker=list_tuning_workers(budget))
    trained = train.expand(plan=plans)
    tuned >> trained
    ensemble = train_ensemble(dataset, trained)
    promotion = promote(trained, ensemble)
    summarize(dataset, trained, ensemble, promotion, notify_api(promotion))


burnout_pipeline()
