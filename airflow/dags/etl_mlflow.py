"""The ETL as an Airflow DAG: one published, versioned training dataset per distinct raw input."""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from dag_helpers.defaults import (
    ETL_TIMEOUT,
    INPUT_PARAM,
    PROCESSED_DATASET_ASSET,
    common_dag_arguments,
)
from dag_helpers.tasks import run_etl

PROCESSED_DATASET = Asset(PROCESSED_DATASET_ASSET)


@dag(
    dag_id="etl_mlflow",
    schedule=None,
    **common_dag_arguments(ETL_TIMEOUT),
    tags=["burnout", "etl", "mlflow"],
    params={
        "input": Param(**INPUT_PARAM),
    },
)
def etl_mlflow():
    """
    ### etl_mlflow: publish a processed dataset version

    Reads the raw dataset from the lake (`raw` bucket: MinIO in compose, a folder under `BURNOUT_HOME` in the
    embedded mode) or from the **input** given on the trigger form, validates every row against the data
    contract (bad rows go to `quarantine/` with their reasons), cleans, splits TRAIN/TEST stratified, fits the
    preprocessor (MICE imputer, one-hot, scaler) on TRAIN only and publishes
    `processed/<dataset_version>/`. The version is a content hash: the same input gives the same version and
    nothing is rewritten. Row counts, class balance and the split go to the MLflow experiment `burnout-etl`.

    A **new** version updates the asset `burnout_processed_dataset`, which schedules `train_lightgbm`,
    `train_knn` and `train_svm`; re-running on the same input publishes nothing and triggers nothing.
    """

    @task(outlets=[PROCESSED_DATASET])
    def announce_dataset(summary: dict, outlet_events=None) -> dict:
        if summary["reused"]:
            raise AirflowSkipException(f"dataset {summary['dataset_version']} was already published")
        outlet_events[PROCESSED_DATASET].extra = {
            "dataset_version": summary["dataset_version"],
            "published_to": summary["published_to"],
        }
        return {"dataset_version": summary["dataset_version"]}

    announce_dataset(run_etl())


etl_mlflow()
