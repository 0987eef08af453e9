"""Batch scoring as an Airflow DAG: a file scored with the champion, one mapped task per partition."""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from dag_helpers.defaults import ETL_TIMEOUT, INPUT_PARAM, common_dag_arguments
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
            description=".parquet or .csv folder (path or s3://bucket/prefix) of one part per partition; "
            "empty = <input>.predictions.parquet.",
        ),
        "model": Param(
            default=CHAMPION,
            type="string",
            pattern="^[A-Za-z0-9_-]+$",
            title="Model alias",
            description="The registered model's alias to score with.",
        ),
        "partition_bytes": Param(
            default=None,
            type=["null", "integer"],
            minimum=1024,
            title="Partition size (bytes)",
            description="About this many bytes per scoring task (at most 64 tasks); "
            "empty = BURNOUT_SCORE_PARTITION_BYTES.",
        ),
    },
)
def batch_score():
    """
    ### batch_score: score a file with the champion, spread over the workers

    1. **plan**: one streaming pass over the **input** (CSV or Parquet, a path or `s3://bucket/key`; empty =
       the raw object in the lake) finds its partitions: line-aligned byte ranges of about **partition_bytes**
       (`BURNOUT_SCORE_PARTITION_BYTES`, 32 MiB; at most 64 partitions, so a bigger file gets bigger ones),
       or Parquet row groups, and resolves alias **model** (`champion`) to one version. A missing or
       unreadable input, or one without the model's feature columns, fails here, before any scoring.
    2. **score**: one mapped task per partition (listed by **list_partitions**), on any Celery worker, named
       by its partition and lines. It reads only its own range, validates every row with the ETL's own
       checks (a bad row goes to the quarantine with its reasons and fails nothing) and scores the valid
       ones on the service's fast path.
       It writes its part of the **output** (empty = `<input>.predictions.parquet`), a folder or S3 prefix of
       `part-00000.parquet`... holding `Employee ID` when the input has it, `line` (the file's own line: the
       header is line 1), the predicted class, one probability per class and the model version, and its part
       of the quarantine beside it (`<output>.quarantine.parquet/`: line, reason, record).
    3. **account**: the books over all partitions, each line of the file scored, quarantined or blank as the
       plan counted (rows_in = rows_scored + rows_quarantined), or the task fails; then the run in the MLflow
       experiment `burnout-scoring`, with the host that scored each partition (tag `hosts`).
    """

    @task(execution_timeout=ETL_TIMEOUT)
    def plan(params: dict | None = None) -> dict:
        from burnout_base.plain import to_plain
        from burnout_base.settings import get_settings
        from monitoring.batch_score import plan_scoring

        planned = plan_scoring(
            get_settings(), params["input"], params["output"], params["model"], params["partition_bytes"]
        )
        return to_plain(planned)

    @task
    def list_partitions(plan: dict) -> list[dict]:
        # Airflow maps only over a task's whole return value, not over one key of it.
        return plan["partitions"]

    @task(execution_timeout=ETL_TIMEOUT, map_index_template="{{ task.op_kwargs['partition']['name'] }}")
    def score(plan: dict, partition: dict) -> dict:
        from burnout_base.plain import to_plain
        from burnout_base.settings import get_settings
        from monitoring.batch_score import score_partition

        return to_plain(score_partition(get_settings(), plan, partition))

    @task(execution_timeout=ETL_TIMEOUT)
    def account(plan: dict, results: list[dict]) -> dict:
        from burnout_base.plain import to_plain
        from burnout_base.settings import get_settings
        from monitoring.batch_score import finish_scoring

        return to_plain(finish_scoring(get_settings(), plan, list(results)))

    planned = plan()
    account(planned, score.partial(plan=planned).expand(partition=list_partitions(planned)))


batch_score()
