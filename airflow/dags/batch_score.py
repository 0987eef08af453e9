"""Batch scoring as an Airflow DAG: a whole file in the lake scored with the champion."""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from burnout.dag_defaults import ETL_TIMEOUT, INPUT_PARAM, common_dag_arguments
from modeling.registry_names import CHAMPION


@dag(
    dag_id="batch_score",
    schedule=None,
    **common_dag_arguments(ETL_TIMEOUT),
    tags=["burnout", "scoring", "mlflow"],
    params={
        "input": Param(
            **{**INPUT_PARAM, "description": "CSV or Parquet: path or s3://bucket/key; empty = raw object."}
        ),
        "output": Param(
            default=None,
            type=["null", "string"],
            title="Output",
            description=".parquet or .csv path or s3://bucket/key; empty = <input>.predictions.parquet.",
        ),
        "model": Param(
            default=CHAMPION,
            type="string",
            pattern="^[A-Za-z0-9_-]+$",
            title="Model alias",
            description="The registered model's alias to score with.",
        ),
    },
)
def batch_score():
    """
    ### batch_score: score a whole file with the champion

    Reads the **input** (CSV or Parquet, a path or `s3://bucket/key`; empty = the raw object in the lake)
    and validates every row against the data contract with the ETL's own checks: the model's feature columns
    are required, the others checked when present, and a bad row goes to the quarantine with its reasons.
    The valid rows are scored by the model behind alias **model** (`champion`) on the service's own fast
    path, so the probabilities are the API's. The **output** (Parquet or CSV by its extension; empty =
    `<input>.predictions.parquet` beside the input) holds `Employee ID` when the input has it, `line`, the
    predicted class, one probability per class and the model version; the quarantine (line, reason, record)
    is written beside it. Every row is accounted for (rows_in = rows_scored + rows_quarantined): the counts
    and the model version are logged as a run of the MLflow experiment `burnout-scoring`.
    """

    @task(execution_timeout=ETL_TIMEOUT)
    def score(params: dict | None = None) -> dict:
        from burnout_base.plain import to_plain
        from burnout_base.settings import get_settings
        from monitoring.batch_score import score_file

        settings = get_settings()
        return to_plain(score_file(settings, params["input"], params["output"], alias=params["model"]))

    score()


batch_score()
