"""The DAGs run for real with `dag.test()` (SQLite metadata DB in a temporary AIRFLOW_HOME) against a real
MLflow tracking server over HTTP and an S3-compatible endpoint, with a tiny tuning budget; the assertions are
on what the runs produced: dataset versions in the lake, asset events, registered versions and aliases."""

from __future__ import annotations

import uuid
from datetime import timedelta

import mlflow
import pytest

from burnout_dev.airflow_runner import DagRunFailed, load_dag, require_success, run_dag
from burnout_dev.processes import free_port
from dag_helpers.defaults import PROCESSED_DATASET_ASSET
from etl.ingest import ingest_raw_data
from pipeline.run import run_pipeline

pytestmark = pytest.mark.slow
ROWS = 600


@pytest.fixture
def lake_and_server(s3_settings, mlflow_server, tmp_path, monkeypatch):
    """Settings as in compose: S3 lake and MLflow server; no API running; a small synthetic dataset."""
    monkeypatch.chdir(tmp_path)  # no .env from the repository reaches the tasks
    return s3_settings.model_copy(
        update={
            "mlflow_tracking_uri": mlflow_server,
            "mlflow_artifact_root": None,
            # The MLflow server is shared by the session: each test gets its own registered model.
            "registered_model_name": f"burnout-risk-{uuid.uuid4().hex[:8]}",
            "data_dir": tmp_path / "data",
            "synthetic_rows": ROWS,
            "api_url": f"http://127.0.0.1:{free_port()}",  # nothing listens: notify must skip, not fail
        }
    )


def published_versions(settings) -> list[str]:
    from etl.lake import lake_from_settings

    keys = lake_from_settings(settings).list_keys(settings.processed_bucket)
    return sorted({key.split("/")[0] for key in keys if key.endswith("/manifest.json")})


def registry(settings) -> mlflow.MlflowClient:
    from burnout_base.tracking import configure_mlflow

    configure_mlflow(settings)
    return mlflow.MlflowClient()


def asset_events(run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == PROCESSED_DATASET_ASSET, AssetEvent.source_run_id == run_id)
        )
        return [dict(event.extra) for event in session.scalars(query)]


def test_run_etl_dag_publishes_one_version_and_announces_it(airflow_home, lake_and_server):
    settings = lake_and_server
    ingest_raw_data(settings)

    first = run_dag(load_dag("etl_mlflow"), settings)

    assert first["state"] == "success", first
    summary = first["outputs"]["run_etl"]
    version = summary["dataset_version"]
    assert summary["reused"] is False and summary["rows_in"] == ROWS
    assert published_versions(settings) == [version]
    assert asset_events(first["run_id"]) == [
        {"dataset_version": version, "published_to": summary["published_to"]}
    ]
    etl_run = registry(settings).get_run(summary["mlflow_run_id"])
    assert etl_run.data.tags["dataset_version"] == version and etl_run.info.status == "FINISHED"

    again = run_dag(load_dag("etl_mlflow"), settings)

    assert again["state"] == "success", again
    assert again["outputs"]["run_etl"]["reused"] is True
    assert {t["task_id"]: t["state"] for t in again["tasks"]}["announce_dataset"] == "skipped"
    assert asset_events(again["run_id"]) == []  # nothing new: the training DAGs are not triggered
    assert published_versions(settings) == [version]


def test_run_training_dag_registers_and_proposes_champion(airflow_home, lake_and_server):
    from airflow.models.variable import Variable

    from etl.run_etl import run_etl

    settings = lake_and_server
    ingest_raw_data(settings)
    version = run_etl(None, settings)["dataset_version"]
    Variable.set("burnout_tuning_trials", "1")  # an Airflow Variable overrides settings (trials=2)
    try:
        # Two tuning tasks share the study; the form's tuning_workers wins over settings (1).
        result = run_dag(load_dag("train_knn"), settings, conf={"tuning_workers": 2})
    finally:
        Variable.delete("burnout_tuning_trials")

    assert result["state"] == "success", result
    outputs = result["outputs"]
    assert outputs["choose_budget"]["trials"] == 1 and outputs["choose_budget"]["workers"] == 2
    assert sorted(share["worker"] for share in outputs["tune"]) == [0, 1]
    # dag.test() runs the two in turn: the first reaches the study's budget, the second finds it reached.
    assert [share["trials_finished"] for share in outputs["tune"]] == [1, 1]
    trained = outputs["train"]
    assert trained["family"] == "knn" and trained["dataset_version"] == version
    assert sum(trained["trials_by_host"].values()) == 1
    client = registry(settings)
    registered = client.get_model_version_by_alias(settings.registered_model_name, "knn")
    assert int(registered.version) == trained["model_version"]
    assert registered.tags["family"] == "knn" and registered.tags["dataset_version"] == version
    assert outputs["propose_champion"]["decision"] == "promoted"  # first model: nothing to beat
    champion = client.get_model_version_by_alias(settings.registered_model_name, "champion")
    assert champion.version == registered.version
    assert outputs["notify_api"]["status"] == "skipped"


def rendered_map_indexes(run_id: str, task_id: str) -> set[str | None]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(TaskInstance.rendered_map_index).where(
            TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
        )
        return set(session.scalars(query))


def test_run_pipeline_dag_end_to_end_then_reuse(airflow_home, lake_and_server):
    settings = lake_and_server

    first = run_dag(load_dag("burnout_pipeline"), settings)

    assert first["state"] == "success", first
    outputs = first["outputs"]
    assert outputs["ingest"]["generated"] and outputs["ingest"]["uploaded"]
    version = outputs["run_etl"]["dataset_version"]
    assert published_versions(settings) == [version]
    trained = {r["family"]: r for r in outputs["train"]}
    assert set(trained) == {"lightgbm", "knn", "svm"}
    assert all(r["dataset_version"] == version and not r["reused"] for r in trained.values())
    client = registry(settings)
    name = settings.registered_model_name
    for family, result in trained.items():
        assert int(client.get_model_version_by_alias(name, family).version) == result["model_version"]
    candidates = {**trained, "ensemble": outputs["train_ensemble"]}
    assert outputs["train_ensemble"]["family"] == "ensemble"
    champion = client.get_model_version_by_alias(name, "champion")
    best = max(r["test_metrics"]["macro_f1"] for r in candidates.values())
    assert candidates[champion.tags["family"]]["test_metrics"]["macro_f1"] == best
    assert outputs["promote"]["decision"] == "promoted"
    assert rendered_map_indexes(first["run_id"], "train") == {"lightgbm", "knn", "svm"}  # named in the UI
    summary = outputs["summarize"]  # what `burnout pipeline` prints
    assert summary["champion"]["version"] == int(champion.version)
    assert summary["champion"]["family"] == champion.tags["family"]
    assert summary["families"]["ensemble"]["model_version"] == outputs["train_ensemble"]["model_version"]
    assert summary["seconds"]["total"] >= summary["seconds"]["train_knn"] > 0
    versions_before = len(client.search_model_versions(f"name='{name}'"))

    again = run_dag(load_dag("burnout_pipeline"), settings)

    assert again["state"] == "success", again
    assert again["outputs"]["run_etl"]["reused"] is True
    assert all(r["reused"] for r in again["outputs"]["train"])
    assert published_versions(settings) == [version]
    assert len(client.search_model_versions(f"name='{name}'")) == versions_before
    assert client.get_model_version_by_alias(name, "champion").version == champion.version
    # The same steps in this process (everything reused again): the DAG's summary has the same shape.
    in_process = run_pipeline(settings)
    assert summary_shape(again["outputs"]["summarize"]) == summary_shape(in_process)
    assert in_process["champion"] == again["outputs"]["summarize"]["champion"]


def summary_shape(summary: dict) -> dict:
    """The keys of a pipeline summary, of its champion, of each family's entry and of its seconds."""
    return {
        "summary": set(summary),
        "champion": set(summary["champion"]),
        "families": {family: set(entry) for family, entry in summary["families"].items()},
        "seconds": set(summary["seconds"]),
    }


def test_unreachable_lake_is_retried_then_fails_run_clearly(airflow_home, lake_and_server, caplog):
    settings = lake_and_server
    ingest_raw_data(settings)
    closed = f"http://127.0.0.1:{free_port()}"  # an S3 endpoint nobody listens on
    broken = settings.model_copy(update={"s3_endpoint_url": closed})
    dag = load_dag("etl_mlflow")
    for task in dag.tasks:  # keep the test quick: one retry, the shortest backoff Airflow allows (1s)
        task.retries, task.retry_delay = 1, timedelta(0)

    with caplog.at_level("INFO"):
        result = run_dag(dag, broken)

    assert result["state"] == "failed"
    assert result["failed_tasks"] == ["run_etl"]
    run_etl = next(t for t in result["tasks"] if t["task_id"] == "run_etl")
    assert run_etl["tries"] == 2  # the first try and its retry
    assert "task etl_mlflow.run_etl FAILED after 2 tries" in caplog.text
    assert closed in caplog.text  # the log line names the endpoint it could not reach
    assert "ended failed: failed tasks ['run_etl']" in caplog.text
    with pytest.raises(DagRunFailed, match=f"failed tasks run_etl .*FAILED after 2 tries.*{closed}"):
        require_success(result)  # what `burnout demo` reports in one line
    assert published_versions(settings) == []  # nothing half-written became visible
