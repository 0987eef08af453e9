"""The drift monitor: the prediction log of a window of days against the champion's training split.

`check_drift` is what the `drift_monitor` DAG and `burnout drift` run. It reads the window's logged rows,
skips (status "skipped", with the reason) when they are too few or no champion exists, else compares each
feature and the predicted classes with Evidently (monitoring.drift_report), logs the HTML report, the figures
and the summary to an MLflow run of experiment `burnout-monitoring`, and says whether to retrain: when the
share of drifted features reaches `drift_share_threshold`, or when the predicted classes themselves drift
(`drift_prediction_threshold`): a shift in the one feature that drives burnout moves the answers first.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from burnout_base.settings import Settings
from burnout_base.tracking import NOTE_TAG, configure_mlflow, ensure_experiment
from etl.contract import FEATURES
from etl.dataset import load_dataset
from etl.errors import InputError
from etl.lake import lake_from_settings
from modeling.model_io import describe_version
from modeling.registry import find_champion
from monitoring import drift_report
from monitoring.prediction_log import PREDICTED_CLASS, read_predictions

log = logging.getLogger(__name__)


def resolve_window(
    days: int, start: date | None = None, end: date | None = None, today: date | None = None
) -> tuple[date, date]:
    """The window's first and last dates (both included): as given, else the `days` days ending at `end`
    (default today, UTC)."""
    end = end or today or datetime.now(UTC).date()
    start = start or end - timedelta(days=days - 1)
    if start > end:
        raise InputError(f"the window starts ({start}) after it ends ({end})")
    return start, end


def load_reference(settings: Settings) -> tuple[dict, pd.DataFrame] | None:
    """The champion's description and its training split (raw features + the class labels as
    `predicted_class`), or None when there is no champion yet."""
    configure_mlflow(settings)
    champion = find_champion(settings)
    if champion is None:
        return None
    described = describe_version(mlflow.MlflowClient(), settings.registered_model_name, champion.version)
    dataset = load_dataset(settings, described["dataset_version"])
    reference = dataset.train_raw[list(FEATURES)].copy()
    reference[PREDICTED_CLASS] = dataset.y_train.to_numpy()
    return described, reference


def compare_window(reference: pd.DataFrame, current: pd.DataFrame, settings: Settings) -> tuple[dict, Any]:
    """The drift summary of `current` against `reference` (plain data) and Evidently's snapshot."""
    threshold = settings.drift_feature_threshold
    snapshot = drift_report.build_report(
        reference,
        current,
        threshold,
        settings.drift_share_threshold,
        settings.drift_prediction_threshold,
    )
    scores = drift_report.read_scores(snapshot)
    feature_scores = {name: round(scores[name], 4) for name in FEATURES}
    drifted = [name for name, score in feature_scores.items() if score >= threshold]
    share = len(drifted) / len(FEATURES)
    prediction_score = round(scores[PREDICTED_CLASS], 4)
    summary = {
        "drift_share": round(share, 4),
        "drifted_features": drifted,
        "feature_scores": feature_scores,
        "prediction_drift_score": prediction_score,
        "prediction_drifted": prediction_score >= settings.drift_prediction_threshold,
        "class_distribution": {
            "reference": drift_report.class_distribution(reference[PREDICTED_CLASS]),
            "current": drift_report.class_distribution(current[PREDICTED_CLASS]),
        },
        "missing_rates": {
            "reference": drift_report.missing_rates(reference),
            "current": drift_report.missing_rates(current),
        },
    }
    summary["drift"] = share >= settings.drift_share_threshold or summary["prediction_drifted"]
    return summary, snapshot


def log_drift_run(settings: Settings, summary: dict, snapshot) -> str:
    """One MLflow run in the monitoring experiment: tags (champion, dataset, window, verdict), thresholds,
    scores, the HTML report, the figures and the summary. Returns the run id."""
    experiment_id = ensure_experiment(settings, settings.monitoring_experiment)
    window = summary["window"]
    run_name = f"drift {window['start']}..{window['end']}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags(
            {
                "champion_version": summary["champion_version"],
                "dataset_version": summary["dataset_version"],
                "window_start": window["start"],
                "window_end": window["end"],
                "drift": str(summary["drift"]).lower(),
                NOTE_TAG: describe_drift_run(summary),
            }
        )
        mlflow.log_params(
            {
                "feature_threshold": settings.drift_feature_threshold,
                "share_threshold": settings.drift_share_threshold,
                "prediction_threshold": settings.drift_prediction_threshold,
                "min_rows": settings.drift_min_rows,
                "numeric_method": drift_report.NUMERIC_METHOD,
                "category_method": drift_report.CATEGORY_METHOD,
            }
        )
        mlflow.log_metrics(
            {
                "rows": summary["rows"],
                "drift_share": summary["drift_share"],
                "drifted_features": len(summary["drifted_features"]),
                "prediction_drift_score": summary["prediction_drift_score"],
                **{f"drift_score/{name}": score for name, score in summary["feature_scores"].items()},
            }
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "drift_report.html"
            snapshot.save_html(str(path))
            mlflow.log_artifact(str(path))
        for name, figure in drift_report.build_figures(summary).items():
            mlflow.log_figure(figure, f"figures/{name}")
        mlflow.log_dict(summary, "drift_summary.json")
        return run.info.run_id


def describe_drift_run(summary: dict) -> str:
    """The run description: which window against which champion, and the verdict with its two scores."""
    window, drifted = summary["window"], summary["drifted_features"]
    verdict = "**drift**: a retrain is due" if summary["drift"] else "**no drift**"
    return (
        f"Drift check of the {summary['rows']} predictions logged {window['start']} to {window['end']} "
        f"against the training split (dataset `{summary['dataset_version']}`) of champion "
        f"v{summary['champion_version']}: {verdict}. {len(drifted)} feature(s) drifted "
        f"(share {summary['drift_share']:.2f}, threshold {summary['share_threshold']})"
        + (f": {', '.join(drifted)}" if drifted else "")
        + f"; predicted classes {summary['prediction_drift_score']:.3f} "
        f"(threshold {summary['prediction_threshold']})."
    )


def check_drift(
    settings: Settings, start: date | None = None, end: date | None = None, days: int | None = None
) -> dict[str, Any]:
    """Compare the logged predictions of the window with the champion's training split (see the module's
    docstring). Returns a summary whose `status` is "checked" or "skipped" and, when checked, `drift`."""
    start, end = resolve_window(days or settings.drift_window_days, start, end)
    window = {"start": start.isoformat(), "end": end.isoformat()}
    current = read_predictions(lake_from_settings(settings), settings.predictions_bucket, start, end)
    base = {"window": window, "rows": len(current), "min_rows": settings.drift_min_rows, "drift": False}
    if len(current) < settings.drift_min_rows:
        reason = (
            f"{len(current)} logged predictions from {start} to {end}, fewer than {settings.drift_min_rows}"
        )
        log.warning("drift check skipped: %s", reason)
        return {"status": "skipped", "reason": reason, **base}
    found = load_reference(settings)
    if found is None:
        reason = f"no champion of {settings.registered_model_name} to compare with"
        log.warning("drift check skipped: %s", reason)
        return {"status": "skipped", "reason": reason, **base}
    champion, reference = found
    summary, snapshot = compare_window(reference, current, settings)
    summary = {
        "status": "checked",
        **base,
        "champion_version": champion["model_version"],
        "dataset_version": champion["dataset_version"],
        "feature_threshold": settings.drift_feature_threshold,
        "share_threshold": settings.drift_share_threshold,
        "prediction_threshold": settings.drift_prediction_threshold,
        **summary,
    }
    summary["mlflow_run_id"] = log_drift_run(settings, summary, snapshot)
    log.info(
        "drift %s..%s on %d rows: %s (share %.2f, drifted %s, predicted classes %.3f)",
        start,
        end,
        len(current),
        "DRIFT" if summary["drift"] else "no drift",
        summary["drift_share"],
        summary["drifted_features"] or "none",
        summary["prediction_drift_score"],
    )
    return summary
