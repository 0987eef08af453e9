"""Live model quality as an Airflow DAG: daily (and on demand) the prediction log joined with the outcomes
posted later; a champion scoring below its TEST interval on live traffic updates the asset that retrains
(burnout_pipeline)."""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from burnout_base.settings import setting_default
from dag_helpers.defaults import QUALITY_ASSET, QUALITY_TIMEOUT, common_dag_arguments, date_param

QUALITY = Asset(QUALITY_ASSET)


@dag(
    dag_id="model_quality",
    # After drift_monitor (23:30): late in the UTC day, so that today's outcomes are in the window.
    schedule="45 23 * * *",
    # A monitor left paused (the stack pauses new DAGs) would never watch anything.
    is_paused_upon_creation=False,
    **common_dag_arguments(QUALITY_TIMEOUT),
    tags=["burnout", "monitoring", "quality"],
    params={
        "end": date_param("Last day", "YYYY-MM-DD; empty = the run's day (UTC)."),
        "days": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Window (days)",
            description="Days of logged predictions (and of outcomes received) up to the last day; empty = "
            f"BURNOUT_QUALITY_WINDOW_DAYS (default {setting_default('quality_window_days')}).",
        ),
    },
)
def model_quality():
    """
    ### model_quality: how good are the served answers, now that the outcomes are coming back?

    1. **check_quality**: reads the prediction log (lake bucket `predictions`) of the window (by default the
       `BURNOUT_QUALITY_WINDOW_DAYS` days up to the run's day) and the outcomes received in it (bucket
       `feedback`), and joins them: by request id and record index, or by Employee ID with the prediction
       logged within the outcome's window; an outcome posted twice counts once, a prediction keeps the latest
       outcome. Per model version, served and shadow apart: live macro-F1, per-class recall and the expected
       calibration error with 95 % bootstrap intervals (`BURNOUT_QUALITY_BOOTSTRAP` resamples); the label
       coverage, the delay from prediction to outcome, the outcomes that matched nothing, and for the shadow
       model the paired macro-F1 difference on the same records. An MLflow run `model_quality` of
       experiment `burnout-monitoring` holds the figures (with plots), a markdown report and the summary.
       The labelled served records that carry an observed Burn Rate (and were not written before) go to the
       raw bucket under `labelled/`, for the next ETL to publish as training data. No logged prediction in
       the window: the task is skipped, with the reason.
    2. **request_retraining**: when the champion's live macro-F1, on at least `BURNOUT_QUALITY_MIN_ROWS`
       labelled rows, is below the lower bound of its TEST 95 % interval, updates the asset
       `burnout_live_quality`, which schedules `burnout_pipeline` (retraining, with the labelled records);
       otherwise it is skipped and nothing runs.
    """

    @task
    def check_quality(params: dict | None = None, data_interval_end=None) -> dict:
        from datetime import date

        from burnout_base.settings import get_settings
        from monitoring.quality import check_quality as check

        end = date.fromisoformat(params["end"]) if params["end"] else None
        if end is None and data_interval_end is not None:
            end = data_interval_end.date()
        summary = check(get_settings(), days=params["days"], end=end)
        if summary["status"] == "skipped":
            raise AirflowSkipException(summary["reason"])
        keys = ("window", "rows", "labelled", "coverage", "unmatched", "degraded", "champion_version")
        live = summary["champion_live"] or {}
        return {
            **{key: summary[key] for key in keys},
            "champion_live_macro_f1": live.get("macro_f1"),
            "champion_live_rows": live.get("rows", 0),
            "champion_test_macro_f1_low": summary["champion_test_macro_f1_low"],
            "labelled_uri": summary["labelled_uri"],
            "mlflow_run_id": summary["mlflow_run_id"],
        }

    @task(outlets=[QUALITY])
    def request_retraining(summary: dict, outlet_events=None) -> dict:
        if not summary["degraded"]:
            raise AirflowSkipException(
                f"champion v{summary['champion_version']} not degraded: live macro-F1 "
                f"{summary['champion_live_macro_f1']} on {summary['champion_live_rows']} labelled rows, "
                f"TEST lower bound {summary['champion_test_macro_f1_low']}"
            )
        outlet_events[QUALITY].extra = summary
        return summary

    request_retraining(check_quality())


model_quality()
