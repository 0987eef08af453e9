"""The whole flow in one run: ingest, ETL, three families in parallel, their ensemble, promotion, reload."""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, task

from dag_helpers.defaults import (
    BUDGET_PARAMS,
    DRIFT_ASSET,
    INPUT_PARAM,
    PIPELINE_TIMEOUT,
    TRAIN_TIMEOUT,
    common_dag_arguments,
)
from dag_helpers.tasks import (
    choose_budget,
    list_tuning_workers,
    notify_api,
    plan_training,
    run_etl,
    train,
    tune,
)
from modeling.families import FAMILIES


@dag(
    dag_id="burnout_pipeline",
    # By hand, and when drift_monitor finds drift: a retraining on the latest raw data.
    schedule=[Asset(DRIFT_ASSET)],
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
    5. **promote**: the best candidate (families and ensemble) takes alias `champion` only if it beats the
       incumbent on TEST.
    6. **notify_api**: asks the serving API to reload (skipped with a log line when it is not running; the
       API also polls the aliases on its own).

    Runs when triggered by hand and when `drift_monitor` updates the asset `burnout_drift` (then with the
    form's defaults: the raw data in the lake, families reused when that dataset version already has them).

    The tuning budget per family comes from the trigger form, else the Airflow Variables
    `burnout_tuning_trials` / `burnout_tuning_timeout_s` / `burnout_tuning_workers`, else settings
    (`BURNOUT_TUNING_*`).
    """

    @task
    def ingest(params: dict | None = None) -> dict:
        from burnout_base.settings import get_settings
        from etl.ingest import ingest_raw_data

        return ingest_raw_data(get_settings(), params["input"])

    @task(retries=1, execution_timeout=TRAIN_TIMEOUT)
    def train_ensemble(dataset: dict, trained: list[dict], params: dict | None = None) -> dict:
        import modeling.ensemble
        from burnout_base.settings import get_settings

        del trained  # only ordering: the ensemble votes with the versions the families just registered
        return modeling.ensemble.train_ensemble(get_settings(), dataset["dataset_version"], params["retrain"])

    @task
    def promote(trained: list[dict], ensemble: dict) -> dict:
        # promote_best reads the candidates from the registry aliases; the arguments only order this task.
        from burnout_base.plain import to_plain
        from burnout_base.settings import get_settings
        from modeling.registry import promote_best

        return to_plain(promote_best(get_settings()))

    dataset = run_etl(ingest())
    budget = choose_budget()
    plans = plan_training.partial(dataset=dataset, budget=budget).expand(family=list(FAMILIES))
    # Every family's K workers at once (families x workers); a family registers after all the tuning.
    tuned = tune.expand(plan=plans, worker=list_tuning_workers(budget))
    trained = train.expand(plan=plans)
    tuned >> trained
    notify_api(promote(trained, train_ensemble(dataset, trained)))


burnout_pipeline()
