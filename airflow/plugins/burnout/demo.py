"""`burnout demo`: the embedded platform in one command. Runs the burnout_pipeline DAG in this process with
real Airflow (`dag.test()`, SQLite metadata DB under BURNOUT_HOME/airflow), MLflow and the lake as the
settings say (by default a SQLite store and a folder under BURNOUT_HOME), prints what it produced, then
serves the champion over REST, GraphQL and gRPC with ready-to-paste examples.

A second run reuses everything: the migrated Airflow DB, the raw object, the dataset version (content
hash) and the models already trained on it."""

from __future__ import annotations

import json
import logging
from typing import Any

import typer

from burnout_base.settings import Settings

log = logging.getLogger(__name__)
PIPELINE_DAG = "burnout_pipeline"


def run_demo(settings: Settings, serve: bool = True) -> dict[str, Any]:
    """Run burnout_pipeline end to end with the demo's small budget (settings.demo_trials), print a summary,
    then, when `serve`, print how to call the service and serve until Ctrl-C. Returns the summary."""
    from burnout.airflow_runner import (
        configure_airflow,
        ensure_airflow_db,
        load_dag,
        require_success,
        run_dag,
    )

    settings = settings.with_session_token()  # the in-process DAG's /reload call and the API share it
    settings.ensure_home()
    configure_airflow(settings.home / "airflow")
    ensure_airflow_db()
    log.info("running %s in-process (demo budget: %d trials per family)", PIPELINE_DAG, settings.demo_trials)
    run = require_success(run_dag(load_dag(PIPELINE_DAG), settings, conf={"trials": settings.demo_trials}))
    summary = summarize_pipeline(run, settings)
    typer.echo(json.dumps(summary, indent=2, default=str))
    if serve:
        from burnout_api.main import serve as serve_api

        typer.echo(describe_stream(settings))
        typer.echo(describe_usage(settings))
        serve_api(settings)
    return summary


def summarize_pipeline(run: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """What the user wants to know from a pipeline run: the data, the models, the champion, the time."""
    outputs = run["outputs"]
    dataset = outputs.get("run_etl", {})
    steps: dict[str, float] = {}
    for task in run["tasks"]:
        steps[task["task_id"]] = round(steps.get(task["task_id"], 0.0) + (task["seconds"] or 0.0), 1)
    return {
        "pipeline": {
            "dag_id": run["dag_id"],
            "run_id": run["run_id"],
            "state": run["state"],
            "seconds": run["seconds"],
            "task_seconds": steps,
        },
        "raw_data": outputs.get("ingest"),
        "dataset": {
            key: dataset.get(key)
            for key in (
                "dataset_version",
                "reused",
                "rows_in",
                "rows_quarantined",
                "rows_kept",
                "train_rows",
                "test_rows",
                "class_balance",
                "published_to",
            )
        },
        "models": [
            {
                "family": r["family"],
                "model_version": r["model_version"],
                "reused": r.get("reused", False),
                "test_macro_f1": r["test_metrics"].get("macro_f1"),
            }
            for r in outputs.get("train", [])
        ],
        "promotion": outputs.get("promote"),
        "api_reload": outputs.get("notify_api"),
        "home": str(settings.home),
        "mlflow_tracking_uri": settings.mlflow_tracking_uri,
        "registered_model": settings.registered_model_name,
    }


def describe_usage(settings: Settings) -> str:
    """Ready-to-paste calls of the three APIs with a valid record from the data contract, how to open the
    MLflow UI, and the line that says the service is serving."""
    from burnout_api.features import FEATURE_FIELDS, build_example_record
    from etl.contract import CLASSES

    rest = f"http://localhost:{settings.api_port}"
    record = build_example_record()
    snake = {field.key: record[field.name] for field in FEATURE_FIELDS}
    graphql_record = "{" + ", ".join(f"{key}: {json.dumps(value)}" for key, value in snake.items()) + "}"
    query = (
        f"{{ predict(records: [{graphql_record}]) {{ model {{ alias version family }} "
        f"predictions {{ class probabilities {{ {' '.join(CLASSES)} }} model_version }} }} }}"
    )
    lines = [
        "",
        "Try it (another terminal):",
        "  # REST (Swagger UI at " + rest + "/docs)",
        f"  curl -s -X POST {rest}/predict -H 'Content-Type: application/json' \\",
        f"    -d '{json.dumps([record])}'",
        "  # GraphQL (GraphiQL at " + rest + "/graphql)",
        f"  curl -s -X POST {rest}/graphql -H 'Content-Type: application/json' \\",
        f"    -d '{json.dumps({'query': query})}'",
        "  # gRPC (server reflection is on)",
        f"  grpcurl -plaintext -d '{json.dumps({'records': [snake]})}' \\",
        f"    localhost:{settings.grpc_port} burnout.v1.BurnoutRisk/Predict",
        "  # MLflow UI: runs, metrics, registered versions and aliases",
        f"  {mlflow_ui_command(settings)}",
        "",
        f"serving REST + GraphQL on {rest} and gRPC on localhost:{settings.grpc_port} "
        f"(model {settings.registered_model_name}@champion); Ctrl-C to stop",
    ]
    return "\n".join(lines)


def describe_stream(settings: Settings) -> str:
    """One line: whether POST /predict_stream has a Redis to queue on, and how to score what it queues."""
    from burnout_api.record_stream import describe_url, ping

    problem = ping(settings)
    if problem is not None:
        return f"stream: skipped ({problem}); POST /predict_stream answers 503 (set BURNOUT_REDIS_URL)"
    return (
        f"stream: POST /predict_stream queues on {describe_url(settings.redis_url)} "
        f"({settings.stream_requests}); `burnout stream-worker` scores them into {settings.stream_results}"
    )


def mlflow_ui_command(settings: Settings) -> str:
    """How to look at this demo's MLflow store: `mlflow ui` on a local store, the server's URL otherwise."""
    uri = settings.mlflow_tracking_uri
    if uri.startswith(("http://", "https://")):
        return f"open {uri}"
    port = settings.mlflow_port
    return f"mlflow ui --backend-store-uri {uri} --port {port}   # then open http://localhost:{port}"
