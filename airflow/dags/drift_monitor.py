"""The drift monitor as an Airflow DAG: daily (and on demand) the prediction log against the champion's
training split; drift past the thresholds updates the asset that retrains (burnout_pipeline)."""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from burnout_base.settings import setting_default
from dag_helpers.defaults import DRIFT_ASSET, DRIFT_TIMEOUT, common_dag_arguments, date_param

DRIFT = Asset(DRIFT_ASSET)


@dag(
    dag_id="drift_monitor",
    # Late in the UTC day, so that the default one-day window (today) is nearly complete.
    schedule="30 23 * * *",
    # A monitor left paused (the stack pauses new DAGs) would never watch anything.
    is_paused_upon_creation=False,
    **common_dag_arguments(DRIFT_TIMEOUT),
    tags=["burnout", "monitoring", "drift"],
    params={
        "start": date_param("First day", "YYYY-MM-DD; empty = the window's days before the last day."),
        "end": date_param("Last day", "YYYY-MM-DD; empty = the run's day (UTC)."),
        "days": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Window (days)",
            description="Days of logged predictions; empty = BURNOUT_DRIFT_WINDOW_DAYS "
            f"(default {setting_default('drift_window_days')}).",
        ),
    },
)
def drift_monitor():
    """
    ### drift_monitor: has the served traffic moved away from what the champion learned?

    1. **check_drift**: reads the prediction log (lake bucket `predictions`) of the window (by default the
       run's day, `BURNOUT_DRIFT_WINDOW_DAYS`) and compares it with the training split of the champion's
       dataset version: a drift score per feature (Evidently: normed Wasserstein for numbers, Jensen-Shannon
       for categories), the share of drifted features, the predicted classes against the training labels,
       and the missing-value rates. The HTML report, the figures and the summary go to an MLflow run of
       experiment `burnout-monitoring`, tagged with the champion version and the window. Fewer than
       `BURNOUT_DRIFT_MIN_ROWS` logged predictions (or no champion yet): the task is skipped, with the reason.
    2. **request_retraining**: when the share of drifted features reaches `BURNOUT_DRIFT_SHARE_THRESHOLD` or
       the predicted classes drift (`BURNOUT_DRIFT_PREDICTION_THRESHOLD`), updates the asset `burnout_drift`,
       which schedules `burnout_pipeline` (retraining on the latest raw data); otherwise it is skipped and
       nothing runs.
    """

    @task
    def check_drift(params: dict | None = None, data_interval_end=None) -> dict:
        from datetime import date

        from burnout_base.settings import get_settings
        from monitoring.drift import check_drift as check

        start = date.fromisoformat(params["start"]) if params["start"] else None
        end = date.fromisoformat(params["end"]) if params["end"] else None
        if end is None and data_interval_end is not None:
            end = data_interval_end.date()
        summary = check(get_settings(), start=start, end=end, days=params["days"])
        if summary["status"] == "skipped":
            raise AirflowSkipException(summary["reason"])
        keys = ("window", "rows", "drift", "drift_share", "drifted_features", "prediction_drift_score")
        return {key: summary[key] for key in (*keys, "champion_version", "mlflow_run_id")}

    @task(outlets=[DRIFT])
    def request_retraining(summary: dict, outlet_events=None) -> dict:
        if not summary["drift"]:
            raise AirflowSkipException(f"no drift ({summary['drift_share']:.0%} of the features drifted)")
        outlet_events[DRIFT].extra = summary
        return summary

    request_retraining(check_drift())


drift_monitor()
