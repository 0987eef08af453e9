"""`burnout demo`: the embedded platform in one command. Runs the burnout_pipeline DAG in this process with
real Airflow (`dag.test()`, SQLite metadata DB under BURNOUT_HOME/airflow), MLflow and the lake as the
settings say (by default a SQLite store and a folder under BURNOUT_HOME), prints what it produced, then
serves the champion over REST, GraphQL and gRPC with ready-to-paste examples.

The terminal shows the steps as they go (burnout_dev.demo_progress, fed by the library's log records) and one
summary; the library's, Airflow's and Python's warning output goes to BURNOUT_HOME/logs/demo-<time>.log
(`--verbose` keeps it on the terminal).

A second run reuses everything: the migrated Airflow DB, the raw object, the dataset version (content
hash) and the models already trained on it."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from burnout_base.settings import Settings
from burnout_dev.demo_display import output_to_log

log = logging.getLogger(__name__)
PIPELINE_DAG = "burnout_pipeline"
# What the summary shows of the ETL's dict.
DATASET_KEYS = (
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


def run_demo(settings: Settings, serve: bool = True, verbose: bool = False) -> dict[str, Any]:
    """Run burnout_pipeline end to end with the demo's small budget (settings.demo_trials) behind a progress
    display, print a summary, then, when `serve`, how to call the service, and serve until Ctrl-C.

    Library, Airflow and warning output goes to BURNOUT_HOME/logs/demo-<time>.log (its path is printed
    first), unless `verbose` keeps it on the terminal. With `serve` off, stdout holds only the JSON summary
    and the progress goes to stderr. Returns the summary."""
    from burnout_dev.airflow_runner import DagRunFailed

    settings = settings.with_session_token()  # the in-process DAG's /reload call and the API share it
    settings.ensure_home()
    log_path = settings.home / "logs" / f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
    output = contextlib.nullcontext((sys.stdout, sys.stderr)) if verbose else output_to_log(log_path)
    with output as (terminal_out, terminal_err):
        screen = terminal_out if serve else terminal_err
        if not verbose:
            screen.write(f"burnout demo: full log in {log_path}\n")
        try:
            run = run_pipeline_with_progress(settings, screen)
        except DagRunFailed as exc:
            raise DagRunFailed(f"{exc}; the full log: {log_path}" if not verbose else str(exc)) from None
        summary = summarize_pipeline(run, settings)
        summary["log_file"] = None if verbose else str(log_path)
        if not serve:
            terminal_out.write(json.dumps(summary, indent=2, default=str) + "\n")
            return summary
        from burnout_api.main import serve as serve_api

        terminal_out.write(describe_summary(summary) + "\n")
        terminal_out.write(describe_stream(settings) + "\n")
        terminal_out.write(describe_usage(settings) + "\n")
        terminal_out.flush()
        # One worker unless told otherwise: the demo shares the machine with the person trying it.
        serve_api(settings if settings.api_workers else settings.model_copy(update={"api_workers": 1}))
    return summary


def run_pipeline_with_progress(settings: Settings, screen: TextIO) -> dict[str, Any]:
    """Run the DAG in this process while the library's log records drive the progress shown on `screen`: a
    live table on a terminal, one line per event otherwise."""
    from burnout_dev.airflow_runner import configure_airflow, ensure_airflow_db, require_success
    from burnout_dev.demo_progress import ProgressListener

    progress, live = build_progress_display(settings, screen)
    listener = ProgressListener(progress)
    with live or contextlib.nullcontext():
        progress.start("airflow")
        configure_airflow(settings.home / "airflow")
        migrated = ensure_airflow_db()
        progress.finish("airflow", "created" if migrated else "reused")
        progress.start("ingest")
        # Attached after Airflow configured its logging, which replaces handlers it knows about.
        listener.attach()
        try:
            run = run_pipeline_dag(settings)
        finally:
            listener.detach()
        if run["state"] != "success":
            for name in run["failed_tasks"]:
                if name in progress.steps:
                    progress.finish(name, status="failed")
        require_success(run)
        summary = run["outputs"]["summarize"]
        progress.finish("promote", format_champion(summary["champion"], summary["promotion"]["decision"]))
    return run


def build_progress_display(settings: Settings, screen: TextIO):
    """The demo's steps, and the rich Live table that shows them on a terminal (None elsewhere: then one line
    per event is printed)."""
    from burnout_dev.demo_display import PlainReporter, render_table
    from burnout_dev.demo_progress import PipelineProgress
    from modeling.families import FAMILIES

    if not screen.isatty():
        return PipelineProgress(tuple(FAMILIES), settings.demo_trials, on_change=PlainReporter(screen)), None
    from rich.console import Console
    from rich.live import Live

    progress = PipelineProgress(tuple(FAMILIES), settings.demo_trials)
    live = Live(
        get_renderable=lambda: render_table(progress),
        console=Console(file=screen),
        refresh_per_second=4,
        # Rich would otherwise print what the process writes to sys.stdout (Airflow's task logs) above the
        # table; here that output belongs in the log file.
        redirect_stdout=False,
        redirect_stderr=False,
    )
    return progress, live


def run_pipeline_dag(settings: Settings) -> dict[str, Any]:
    """One run of burnout_pipeline in this process with the demo's budget; the runner's summary of it."""
    from burnout_dev.airflow_runner import load_dag, run_dag

    log.info("running %s in-process (demo budget: %d trials per family)", PIPELINE_DAG, settings.demo_trials)
    return run_dag(load_dag(PIPELINE_DAG), settings, conf={"trials": settings.demo_trials})


def format_champion(champion: dict[str, Any], decision: str) -> str:
    """`lightgbm v3, test macro-F1 0.873 (95% CI 0.862-0.884); promoted` from the pipeline summary's champion
    (pipeline.summary.describe_champion) and promotion decision."""
    text = f"{champion['family']} v{champion['version']}"
    score, interval = champion.get("macro_f1_current_test"), champion.get("macro_f1_current_test_ci")
    if score is not None:
        text += f", test macro-F1 {score:.3f}"
        if interval:
            text += f" (95% CI {interval[0]:.3f}-{interval[1]:.3f})"
    return text + f"; {decision}"


def describe_summary(summary: dict[str, Any]) -> str:
    """The pipeline's outcome in a few lines: champion, models, data, time and where the log is."""
    dataset, pipeline = summary["dataset"], summary["pipeline"]
    models = ", ".join(
        f"{m['family']} v{m['model_version']} {m['test_macro_f1']:.3f}" + (" (reused)" if m["reused"] else "")
        for m in summary["models"]
        if m.get("test_macro_f1") is not None
    )
    lines = [
        "",
        f"Champion: {format_champion(summary['champion'], summary['promotion']['decision'])}",
        f"  models (test macro-F1): {models}",
        f"  data: dataset {dataset.get('dataset_version')}"
        + (" (reused)" if dataset.get("reused") else "")
        + f", {dataset.get('train_rows') or 0:,} train / {dataset.get('test_rows') or 0:,} test rows",
        f"  pipeline: {pipeline['state']} in {pipeline['seconds']:.0f}s",
    ]
    if summary.get("log_file"):
        lines.append(f"  log: {summary['log_file']}")
    return "\n".join(lines)


def summarize_pipeline(run: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """What the user wants to know from a pipeline run: the data, the models, the champion, the time; read
    from the summary the DAG's summarize task returns (the one `burnout pipeline` prints), beside the run's
    state and each task's seconds."""
    outputs = run["outputs"]
    pipeline = outputs["summarize"]
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
        "dataset": {key: pipeline["etl"].get(key) for key in DATASET_KEYS},
        "models": [
            {
                "family": family,
                "model_version": model["model_version"],
                "reused": model.get("reused", False),
                "test_macro_f1": model["test_metrics"].get("macro_f1"),
            }
            for family, model in pipeline["families"].items()
        ],
        "champion": pipeline["champion"],
        "promotion": pipeline["promotion"],
        "api_reload": pipeline["api_reload"],
        "home": str(settings.home),
        "mlflow_tracking_uri": settings.mlflow_tracking_uri,
        "registered_model": settings.registered_model_name,
    }


def describe_usage(settings: Settings) -> str:
    """Ready-to-paste calls of the three APIs with a valid record from the data contract, how to open the
    MLflow UI, and the line that says the service is serving."""
    from burnout_api.features import FEATURE_FIELDS, build_example_record
    from etl.contract import CLASSES, TARGET

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
        "Open:",
        f"  API docs (Swagger)  {rest}/docs",
        f"  GraphQL (GraphiQL)  {rest}/graphql",
        f"  gRPC                localhost:{settings.grpc_port} burnout.v1.BurnoutRisk (server reflection on)",
        f"  MLflow UI           {mlflow_ui_command(settings)}",
        "",
        "Try it (another terminal):",
        "  # REST (the answer's request_id is the X-Request-ID sent, else a new one)",
        f"  curl -s -X POST {rest}/predict -H 'Content-Type: application/json' -H 'X-Request-ID: demo-1' \\",
        f"    -d '{json.dumps([record])}'",
        "  # ...and, once known, what really happened to that employee: model_quality joins the two",
        f"  curl -s -X POST {rest}/feedback -H 'Content-Type: application/json' \\",
        f"    -d '{json.dumps([{'request_id': 'demo-1', 'record_index': 0, TARGET: 0.52}])}'",
        "  # REST, with each feature's contribution to each class's score",
        f"  curl -s -X POST '{rest}/predict?explain=true' -H 'Content-Type: application/json' \\",
        f"    -d '{json.dumps([record])}'",
        "  # GraphQL",
        f"  curl -s -X POST {rest}/graphql -H 'Content-Type: application/json' \\",
        f"    -d '{json.dumps({'query': query})}'",
        "  # gRPC",
        f"  grpcurl -plaintext -d '{json.dumps({'records': [snake]})}' \\",
        f"    localhost:{settings.grpc_port} burnout.v1.BurnoutRisk/Predict",
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
    return f"mlflow ui --backend-store-uri {uri} --port {port}   # then open http://localhost:{port}/#/experiments?workflowType=machine_learning"
