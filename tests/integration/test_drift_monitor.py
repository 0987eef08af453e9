"""The drift monitor end to end on the embedded stores: a champion trained on a published synthetic dataset,
a day of logged predictions (shifted or not), `burnout drift` and the `drift_monitor` DAG; the assertions are
on the verdict, the MLflow run (tags, report, figures) and the retraining asset's events."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime

import mlflow
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from typer.testing import CliRunner

from burnout_base.settings import Settings, get_settings
from burnout_base.tracking import configure_mlflow, ensure_experiment
from burnout_cli.app import app
from etl.contract import CLASSES, FEATURES
from etl.lake import lake_from_settings
from etl.synthetic import generate_synthetic
from modeling.registry_names import CHAMPION
from monitoring.drift import check_drift
from monitoring.prediction_log import write_predictions

pytestmark = pytest.mark.slow
DAY = date(2026, 11, 30)
FATIGUE = "Mental Fatigue Score"
# BURNOUT_HOME -> the champion's fitted pipeline, which answers the logged traffic.
CHAMPION_PIPELINES: dict = {}


@pytest.fixture(scope="module")
def champion_home(tmp_path_factory) -> tuple[Settings, Pipeline]:
    """Embedded settings with a published synthetic dataset and a champion trained on its TRAIN split."""
    from etl.dataset import load_dataset
    from etl.run_etl import run_etl
    from etl.synthetic import write_synthetic_csv
    from modeling.model_io import log_model
    from modeling.train import register_version

    home = tmp_path_factory.mktemp("drift-home")
    settings = Settings(_env_file=None, home=home, drift_min_rows=200)
    settings.ensure_home()
    write_synthetic_csv(home / "input.csv", rows=3000, seed=11)
    run_etl(str(home / "input.csv"), settings)
    dataset = load_dataset(settings)
    estimator = LogisticRegression(max_iter=500).fit(
        np.asarray(dataset.X_train, dtype=float), dataset.y_train
    )
    pipeline = Pipeline([("preprocessor", dataset.preprocessor), ("model", estimator)])
    experiment_id = ensure_experiment(settings, settings.training_experiment)
    with mlflow.start_run(experiment_id=experiment_id):
        info = log_model(pipeline, dataset.train_raw.head(2), settings.registered_model_name)
    version = int(info.registered_model_version)
    register_version(
        settings, version, {"family": "lightgbm", "dataset_version": dataset.version, "git_commit": "test"}
    )
    mlflow.MlflowClient().set_registered_model_alias(settings.registered_model_name, CHAMPION, str(version))
    return settings, pipeline


def log_traffic(settings: Settings, rows: int, seed: int, fatigue_shift: float = 0.0) -> None:
    """Log `rows` synthetic records of DAY as the service would, answered by the champion; the fatigue scores
    raised by `fatigue_shift` (capped at the contract's 10)."""
    records = generate_synthetic(rows, seed)[list(FEATURES)]
    records[FATIGUE] = (records[FATIGUE] + fatigue_shift).clip(upper=10)
    pipeline = CHAMPION_PIPELINES[settings.home]
    probabilities = pipeline.predict_proba(records)
    frame = records.copy()
    frame["request_id"] = [f"r{seed}-{i}" for i in range(rows)]
    frame["record_index"] = 0
    frame["logged_at"] = datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=UTC)
    frame["protocol"] = "rest"
    frame["alias"] = CHAMPION
    frame["model_version"] = 1
    frame["replica"] = "test-replica"
    frame["predicted_class"] = pipeline.predict(records)
    order = list(pipeline.classes_)
    for name in CLASSES:
        frame[f"proba_{name}"] = probabilities[:, order.index(name)]
    write_predictions(lake_from_settings(settings), settings.predictions_bucket, frame)


@pytest.fixture
def monitor(champion_home, tmp_path) -> Settings:
    """The champion's home with an empty prediction log of its own."""
    settings, pipeline = champion_home
    CHAMPION_PIPELINES[settings.home] = pipeline
    return settings.model_copy(update={"predictions_bucket": f"predictions-{tmp_path.name}"[:60]})


def drift_runs(settings: Settings) -> list:
    configure_mlflow(settings)
    experiment = mlflow.MlflowClient().get_experiment_by_name(settings.monitoring_experiment)
    return mlflow.MlflowClient().search_runs([experiment.experiment_id]) if experiment else []


def test_shifted_fatigue_is_drift_logged_to_mlflow(monitor):
    log_traffic(monitor, rows=600, seed=101, fatigue_shift=2.0)

    summary = check_drift(monitor, start=DAY, end=DAY)

    assert summary["status"] == "checked" and summary["rows"] == 600
    assert summary["drift"] is True
    assert FATIGUE in summary["drifted_features"]
    assert summary["prediction_drifted"] is True
    assert (
        summary["class_distribution"]["current"]["High"] > summary["class_distribution"]["reference"]["High"]
    )
    run = mlflow.MlflowClient().get_run(summary["mlflow_run_id"])
    assert run.data.tags["champion_version"] == str(summary["champion_version"])
    assert run.data.tags["window_start"] == run.data.tags["window_end"] == DAY.isoformat()
    assert run.data.tags["drift"] == "true"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    figures = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "figures")}
    assert {"drift_report.html", "drift_summary.json"} <= artifacts
    assert figures == {
        f"figures/{n}" for n in ("drift_scores.png", "predicted_classes.png", "missing_values.png")
    }


def test_unshifted_traffic_is_not_drift(monitor):
    log_traffic(monitor, rows=600, seed=202)

    summary = check_drift(monitor, start=DAY, end=DAY)

    assert summary["status"] == "checked"
    assert summary["drift"] is False, summary
    assert FATIGUE not in summary["drifted_features"]
    assert summary["drift_share"] < monitor.drift_share_threshold
    assert mlflow.MlflowClient().get_run(summary["mlflow_run_id"]).data.tags["drift"] == "false"


def test_too_few_logged_predictions_is_a_clear_skip(monitor):
    log_traffic(monitor, rows=50, seed=303, fatigue_shift=2.0)
    before = len(drift_runs(monitor))

    summary = check_drift(monitor, start=DAY, end=DAY)

    assert summary["status"] == "skipped" and summary["drift"] is False
    assert "50 logged predictions" in summary["reason"] and "fewer than 200" in summary["reason"]
    assert len(drift_runs(monitor)) == before  # nothing to report, no run


@pytest.fixture
def cli(monitor, tmp_path, monkeypatch):
    """`burnout ...` in this process with the monitor's settings in the environment (no .env)."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BURNOUT_")]:
        monkeypatch.delenv(name)
    for name, value in monitor.to_environment().items():
        if value is not None:
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def test_burnout_drift_reports_shifted_and_unshifted_windows(monitor, cli):
    log_traffic(monitor, rows=400, seed=404, fatigue_shift=2.0)
    log_traffic(
        monitor.model_copy(update={"predictions_bucket": monitor.predictions_bucket + "-calm"}), 400, 405
    )

    shifted = cli("drift", "--start", DAY.isoformat(), "--end", DAY.isoformat())
    assert shifted.exit_code == 0, shifted.output
    assert json.loads(shifted.stdout)["drift"] is True

    get_settings.cache_clear()
    calm_env = {"BURNOUT_PREDICTIONS_BUCKET": monitor.predictions_bucket + "-calm"}
    calm = CliRunner().invoke(app, ["drift", "--end", DAY.isoformat(), "--days", "1"], env=calm_env)
    assert calm.exit_code == 0, calm.output
    assert json.loads(calm.stdout)["drift"] is False


def test_burnout_drift_refuses_a_bad_date_in_one_line(cli):
    result = cli("drift", "--start", "yesterday")
    assert result.exit_code == 2
    assert "not a date" in result.output and "Traceback" not in result.output


def test_burnout_drift_skips_an_empty_window(cli):
    result = cli("drift", "--end", "2020-01-01")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "skipped"
    assert summary["window"] == {"start": "2020-01-01", "end": "2020-01-01"}


def task_states(summary: dict) -> dict[str, str]:
    return {task["task_id"]: task["state"] for task in summary["tasks"]}


def drift_asset_events(run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from dag_helpers.defaults import DRIFT_ASSET

    with create_session() as session:
        query = (
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == DRIFT_ASSET, AssetEvent.source_run_id == run_id)
        )
        return [dict(event.extra) for event in session.scalars(query)]


def test_drift_monitor_dag_fires_the_retraining_asset_only_on_drift(
    airflow_home, monitor, monkeypatch, tmp_path
):
    from burnout_dev.airflow_runner import load_dag, require_success, run_dag

    monkeypatch.chdir(tmp_path)  # no .env from the repository reaches the tasks
    calm = monitor.model_copy(update={"predictions_bucket": monitor.predictions_bucket + "-calm"})
    log_traffic(monitor, rows=400, seed=505, fatigue_shift=2.0)
    log_traffic(calm, rows=400, seed=506)
    conf = {"start": DAY.isoformat(), "end": DAY.isoformat()}
    dag = load_dag("drift_monitor")

    shifted = require_success(run_dag(dag, monitor, conf))
    assert task_states(shifted) == {"check_drift": "success", "request_retraining": "success"}
    [event] = drift_asset_events(shifted["run_id"])
    assert event["drift"] is True and event["window"] == {"start": conf["start"], "end": conf["end"]}

    unshifted = require_success(run_dag(dag, calm, conf))
    assert task_states(unshifted) == {"check_drift": "success", "request_retraining": "skipped"}
    assert drift_asset_events(unshifted["run_id"]) == []

    empty = require_success(run_dag(dag, calm, {"start": "2020-01-01", "end": "2020-01-01"}))
    assert task_states(empty) == {"check_drift": "skipped", "request_retraining": "skipped"}
    assert drift_asset_events(empty["run_id"]) == []
