"""The training DAGs, one per model family, all built by `build_training_dag` from modeling.families."""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, task

from burnout.dag_defaults import (
    BUDGET_PARAMS,
    PROCESSED_DATASET_ASSET,
    TRAIN_TIMEOUT,
    common_dag_arguments,
)
from burnout.dag_tasks import choose_budget, notify_api
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

        The tuning budget comes from the trigger form, else the Airflow Variables
        `burnout_tuning_trials` / `burnout_tuning_timeout_s`, else `BURNOUT_TUNING_TRIALS` /
        `BURNOUT_TUNING_TIMEOUT_S`.
        """

        @task(retries=0)
        def choose_dataset(params: dict | None = None, triggering_asset_events=None) -> dict:
            from modeling.train import pick_dataset_version

            events = triggering_asset_events[PROCESSED_DATASET] if triggering_asset_events else []
            announced = [event.extra.get("dataset_version") for event in events]
            return {"dataset_version": pick_dataset_version(params["dataset_version"], announced)}

        @task(retries=1, execution_timeout=TRAIN_TIMEOUT)
        def train(dataset: dict, budget: dict) -> dict:
            from burnout_base.settings import get_settings
            from modeling.train import train_or_reuse

            return train_or_reuse(family, get_settings(), dataset["dataset_version"], budget)

        @task
        def propose_champion(trained: dict) -> dict:
            from burnout_base.plain import to_plain
            from burnout_base.settings import get_settings
            from modeling.registry import promote_if_better

            return to_plain(promote_if_better(get_settings(), trained["model_version"]))

        notify_api(propose_champion(train(choose_dataset(), choose_budget())))

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
