"""The training DAGs, one per model family, all built by `build_training_dag` from modeling.families."""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, task

from dag_helpers.defaults import (
    BUDGET_PARAMS,
    PROCESSED_DATASET_ASSET,
    TRAIN_TIMEOUT,
    common_dag_arguments,
)
from dag_helpers.tasks import (
    choose_budget,
    list_tuning_workers,
    notify_api,
    plan_training,
    train,
    tune,
)
from modeling.families import FAMILIES

PROCESSED_DATASET = Asset(PROCESSED_DATASET_ASSET)


def build_training_dag(family: str):
    """The DAG `train_<family>`: scheduled on the processed-dataset asset, triggerable by hand."""

    def training():
        """
        ### train_{family}: tune, evaluate, register and propose a {family} model

        Runs when `etl_mlflow` publishes a new dataset version (asset `burnout_processed_dataset`) or when
        triggered by hand (then on the **dataset_version** given, else the latest). Optuna tunes {family}
        with stratified K-fold CV on TRAIN only, the best configuration is refitted and evaluated once on
        TEST, and the pipeline (preprocessor + estimator) is logged to MLflow and registered as
        `burnout-risk` with alias `{family}`. The new version then takes alias `champion` only if it beats
        the current champion on the same TEST split; the serving API is asked to reload.

        Tuning is spread over the Celery workers: **plan_training** creates the Optuna study, its starting
        trial and the MLflow run once; **tune** runs K mapped tasks (**tuning_workers**) that share the
        study, each sampling with its own seed, and stop together at the study's trial budget; **train**
        then refits the study's best trial and registers it, once. Each trial names the host that ran it.

        The tuning budget comes from the trigger form, else the Airflow Variables
        `burnout_tuning_trials` / `burnout_tuning_timeout_s` / `burnout_tuning_workers`, else
        `BURNOUT_TUNING_TRIALS` / `BURNOUT_TUNING_TIMEOUT_S` / `BURNOUT_TUNING_WORKERS`.
        """

        @task(retries=0)
        def choose_dataset(params: dict | None = None, triggering_asset_events=None) -> dict:
            from modeling.train import pick_dataset_version

            events = triggering_asset_events[PROCESSED_DATASET] if triggering_asset_events else []
            announced = [event.extra.get("dataset_version") for event in events]
            return {"dataset_version": pick_dataset_version(params["dataset_version"], announced)}

        @task
        def propose_champion(trained: dict) -> dict:
            from burnout_base.plain import to_plain
            from burnout_base.settings import get_settings
            from modeling.registry import promote_if_better

            return to_plain(promote_if_better(get_settings(), trained["model_version"]))

        budget = choose_budget()
        # Keywords: the UI's map index template reads the family from op_kwargs.
        plan = plan_training(family=family, dataset=choose_dataset(), budget=budget)
        tuned = tune.partial(plan=plan).expand(worker=list_tuning_workers(budget))
        trained = train(plan=plan)
        tuned >> trained
        notify_api(propose_champion(trained))

    training.__doc__ = training.__doc__.format(family=family)
    return dag(
        dag_id=f"train_{family}",
        schedule=[PROCESSED_DATASET],
        # Active from the start: an asset consumer left paused (the stack pauses new DAGs) would never run
        # when etl_mlflow publishes a new dataset version.
        is_paused_upon_creation=False,
        **common_dag_arguments(TRAIN_TIMEOUT),
        tags=["burnout", "training", family],
        params={
            **{name: Param(**spec) for name, spec in BUDGET_PARAMS.items()},
            "dataset_version": Param(
                None,
                type=["null", "string"],
                title="Dataset version",
                description="Empty = the version that triggered the run, else the latest.",
            ),
        },
    )(training)()


for _family in FAMILIES:
    globals()[f"train_{_family}"] = build_training_dag(_family)
